//! Integration tests: one test binary (one link step) holding every suite.

mod mock_selftest;
mod support;
