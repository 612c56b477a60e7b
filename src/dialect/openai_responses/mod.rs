//! The OpenAI Responses API. For now its outbound side: a `Turn` as the
//! request a Responses upstream takes, and its answer as events.

pub mod upstream;
