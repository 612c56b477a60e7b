//! Integration tests: one test binary (one link step) holding every suite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod api;
mod commands;
mod config;
mod cursor;
mod dialect_errors;
mod e2e;
mod edge;
mod gemini_endpoint;
mod http;
mod messages;
mod mock_selftest;
mod process;
mod reload;
mod responses_endpoint;
mod sdk;
mod support;
mod warm;
