//! Anthropic Messages, both ways: the inbound side (`POST /v1/messages`
//! request → `Turn`, events → named server-sent events or one message,
//! errors → Anthropic's envelope) and the outbound side (`upstream`: a
//! `Turn` as the request an Anthropic upstream takes, its answer as events).

pub mod request;
pub mod response;
pub mod upstream;

pub use request::{MessagesRequest, to_turn};
pub use response::{MessagesCodec, error_body};
