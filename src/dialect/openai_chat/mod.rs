//! OpenAI Chat Completions: request → `Turn`, events → chunks or one
//! completion, errors → the OpenAI error envelope.

pub mod request;
pub mod response;
pub mod upstream;
pub mod wire;

pub use request::to_turn;
pub use response::{ChatCodec, error_body};
