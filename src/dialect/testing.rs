//! Helpers for the dialects' codec tests: what the pipeline does with a
//! codec, for a list of events.

use serde_json::Value;

use crate::dialect::{AnswerMeta, Codec, Frame};
use crate::event::Event;

/// An answer to request `request_id` reported as `model`, made at time 7.
pub(crate) fn meta(request_id: &str, model: &str) -> AnswerMeta {
    AnswerMeta {
        request_id: request_id.into(),
        created: 7,
        model: model.into(),
    }
}

/// The frames `codec` streams for `events`.
pub(crate) fn encode(codec: &dyn Codec, meta: AnswerMeta, events: &[Event]) -> Vec<Frame> {
    let mut encoder = codec.encoder(meta);
    let mut frames = encoder.open();
    for event in events {
        frames.extend(encoder.event(event));
    }
    frames
}

/// The body `codec` folds `events` into.
pub(crate) fn fold(codec: &dyn Codec, meta: AnswerMeta, events: &[Event]) -> Value {
    let mut folder = codec.folder(meta);
    for event in events {
        folder.push(event);
    }
    folder.body()
}
