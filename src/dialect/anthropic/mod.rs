//! Anthropic Messages. For now its outbound side: a `Turn` as the request
//! an Anthropic upstream takes, and its answer as events.

pub mod upstream;
