//! What every backend produces, in order: the vocabulary between engines and
//! encoders. A non-streaming response is this stream folded.
//!
//! Pure data: no I/O, no knowledge of any wire format.

use futures_util::stream::BoxStream;

use crate::error::Error;

/// One step of a backend's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Answer text, to append.
    TextDelta(String),
    /// Reasoning ("thinking") text, to append.
    ReasoningDelta(String),
    /// The provider's signature of the reasoning given since the last one:
    /// it closes that reasoning block, which can then be sent back.
    ReasoningSignature(String),
    /// A reasoning block the provider encrypted, opaque, to send back as is.
    RedactedReasoning(String),
    /// The model starts a call of a client tool; its arguments follow.
    ToolCallStart {
        /// Position of the call in the answer (0, 1, …).
        index: usize,
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A fragment of a tool call's JSON arguments, to append.
    ToolCallArguments {
        /// The call it belongs to.
        index: usize,
        /// The fragment.
        fragment: String,
    },
    /// The backend's own session or thread id, usable to resume.
    Session(String),
    /// Token accounting; later reports replace earlier ones field by field.
    Usage(Usage),
    /// The answer ended at this stop sequence of the client's (its finish
    /// follows).
    StopSequence(String),
    /// The answer is complete.
    Finish(FinishReason),
    /// The upstream's own words, for a client of the same wire dialect
    /// (pass-through): one server-sent event (its name and data) ahead of
    /// the events read from it, or, with no name, a whole answer's body.
    Verbatim {
        /// The `event:` name, when the upstream gave one.
        event: Option<String>,
        /// The data (or the whole body), byte for byte.
        data: String,
    },
}

/// Why the answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end of the answer.
    Stop,
    /// The output token limit was reached.
    Length,
    /// The model called client tools and waits for their results.
    ToolCalls,
    /// The provider withheld the answer.
    ContentFilter,
}

/// Token counts with OpenAI semantics: `input_tokens` includes cached tokens,
/// and the cache and reasoning counts are subsets of their totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub input_tokens: Option<u64>,
    /// Generated tokens, reasoning included.
    pub output_tokens: Option<u64>,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_tokens: Option<u64>,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: Option<u64>,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Takes every field `newer` reports, keeping ours where it is silent.
    pub fn update(&mut self, newer: &Usage) {
        let pick = |old: &mut Option<u64>, new: Option<u64>| {
            if new.is_some() {
                *old = new;
            }
        };
        pick(&mut self.input_tokens, newer.input_tokens);
        pick(&mut self.output_tokens, newer.output_tokens);
        pick(&mut self.cache_read_tokens, newer.cache_read_tokens);
        pick(&mut self.cache_write_tokens, newer.cache_write_tokens);
        pick(&mut self.reasoning_tokens, newer.reasoning_tokens);
    }

    /// True when no field is known.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// A backend's answer as it is produced. An `Err` item ends the stream.
pub type EventStream = BoxStream<'static, Result<Event, Error>>;
