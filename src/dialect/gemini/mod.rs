//! The Google Gemini API, both ways: the inbound side (`generateContent`
//! and `streamGenerateContent` requests → `Turn`, events → response chunks
//! or one response, errors → Google's envelope) and the outbound side
//! (`upstream`: a `Turn` as the request a Gemini upstream takes, its answer
//! as events), the JSON Schema cleaning its tool declarations need, and the
//! Code Assist envelope a Google login reaches it through.

pub mod code_assist;
pub mod request;
pub mod response;
pub mod schema;
pub mod upstream;

pub use request::{GenerateRequest, to_turn};
pub use response::{GeminiCodec, error_body};
