//! The Google Gemini API. For now its outbound side: a `Turn` as the
//! request a Gemini upstream takes, its answer as events, and the JSON
//! Schema cleaning its tool declarations need.

pub mod schema;
pub mod upstream;
