//! Gemini requests into turns.
