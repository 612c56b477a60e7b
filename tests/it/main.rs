//! Integration tests: one test binary (one link step) holding every suite.

mod api;
mod mock_selftest;
mod support;
