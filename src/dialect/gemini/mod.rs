//! The Google Gemini API. For now its outbound side: a `Turn` as the
//! request a Gemini upstream takes, its answer as events, the JSON Schema
//! cleaning its tool declarations need, and the Code Assist envelope a
//! Google login reaches it through.

pub mod code_assist;
pub mod schema;
pub mod upstream;
