//! The OpenAI Responses API. For now its outbound side: a `Turn` as the
//! request a Responses upstream takes, and its answer as events; and the
//! shape the ChatGPT backend's Codex endpoint requires on top of it.

pub mod codex;
pub mod upstream;
