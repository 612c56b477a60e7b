//! The one place an upstream dialect is picked: its request body, its
//! whole answer and its stream decoder, from the pure translators.

use serde_json::Value;

use crate::backend::http::UpstreamDialect;
use crate::dialect::upstream::StreamDecoder;
use crate::dialect::{anthropic, openai_chat, openai_responses};
use crate::error::Error;
use crate::event::Event;
use crate::turn::{Effort, Turn};

/// The body sent for `turn` to `model`.
pub(super) fn request(
    dialect: UpstreamDialect,
    turn: &Turn,
    model: &str,
    effort: Option<Effort>,
) -> Result<Value, Error> {
    match dialect {
        UpstreamDialect::OpenAiChat => Ok(openai_chat::upstream::request(turn, model, effort)),
        UpstreamDialect::OpenAiResponses => {
            openai_responses::upstream::request(turn, model, effort).map_err(Error::InvalidRequest)
        }
        UpstreamDialect::AnthropicMessages => {
            anthropic::upstream::request(turn, model, effort).map_err(Error::InvalidRequest)
        }
    }
}

/// The events of a whole (non-streamed) answer.
pub(super) fn answer(dialect: UpstreamDialect, body: &Value) -> Result<Vec<Event>, String> {
    match dialect {
        UpstreamDialect::OpenAiChat => openai_chat::upstream::answer(body),
        UpstreamDialect::OpenAiResponses => openai_responses::upstream::answer(body),
        UpstreamDialect::AnthropicMessages => anthropic::upstream::answer(body),
    }
}

/// A decoder of a streamed answer.
pub(super) fn decoder(dialect: UpstreamDialect) -> Box<dyn StreamDecoder> {
    match dialect {
        UpstreamDialect::OpenAiChat => Box::<openai_chat::upstream::ChunkDecoder>::default(),
        UpstreamDialect::OpenAiResponses => {
            Box::<openai_responses::upstream::ResponseDecoder>::default()
        }
        UpstreamDialect::AnthropicMessages => Box::<anthropic::upstream::MessageDecoder>::default(),
    }
}
