//! Wire dialects: pure translators between a protocol's JSON and the
//! `Turn`/`Event` vocabulary. No I/O, no clock: ids and timestamps are
//! passed in. OpenAI chat is the inbound dialect of this version; the
//! Anthropic and Responses endpoints and the HTTP upstreams add siblings.

pub mod openai_chat;
