//! Messages requests into turns.
