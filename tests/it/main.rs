//! Integration tests: one test binary (one link step) holding every suite.

mod api;
mod commands;
mod config;
mod cursor;
mod e2e;
mod edge;
mod mock_selftest;
mod process;
mod reload;
mod sdk;
mod support;
