//! Shared test support: the mock model upstream, gateway spawning, fixtures.

pub(crate) mod mock_upstream;
