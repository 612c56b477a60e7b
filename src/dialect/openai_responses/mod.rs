//! The OpenAI Responses API, both ways: the inbound side (`POST
//! /v1/responses` request → `Turn`, events → `response.*` events or one
//! response object), the outbound side (`upstream`: a `Turn` as the
//! request a Responses upstream takes, its answer as events), and the
//! shape the ChatGPT backend's Codex endpoint requires on top of it.

pub mod codex;
pub mod request;
pub mod response;
pub mod upstream;

pub use request::{ResponsesRequest, input, to_turn};
pub use response::{ECHOED, ResponsesCodec, new_response_id};
