//! Events → Gemini answers: `GenerateContentResponse` chunks (one per
//! piece of text or thought, function calls whole once their arguments
//! are complete, the last with `finishReason` and `usageMetadata`), or one
//! whole response; errors → Google's envelope. Pure.
//!
//! A signature the backend puts on its reasoning goes, as
//! `thoughtSignature`, on the part that follows it. Thoughts are written
//! only when the request asked for them (`includeThoughts`). A stream is
//! server-sent events with `alt=sse`, else one JSON array written as it
//! grows ([`Framing::JsonArray`]).

use serde_json::{Value, json};

use crate::dialect::{AnswerMeta, Codec, Encoder, Folder, Frame, Framing, arguments_object};
use crate::error::{Error, ErrorKind};
use crate::event::{Event, FinishReason, Usage};

/// Gemini answers to one request.
#[derive(Debug, Clone, Copy)]
pub struct GeminiCodec {
    /// Write the model's thoughts (`thinkingConfig.includeThoughts`).
    pub include_thoughts: bool,
    /// How a stream is written.
    pub framing: Framing,
}

impl Codec for GeminiCodec {
    fn encoder(&self, meta: AnswerMeta) -> Box<dyn Encoder> {
        Box::new(ChunkEncoder {
            parts: Parts::new(self.include_thoughts),
            meta,
        })
    }

    fn folder(&self, meta: AnswerMeta) -> Box<dyn Folder> {
        Box::new(WholeFolder {
            parts: Parts::new(self.include_thoughts),
            meta,
            ready: Vec::new(),
        })
    }

    fn framing(&self) -> Framing {
        self.framing
    }
}

/// The parts of an answer as its events come.
#[derive(Debug)]
struct Parts {
    include_thoughts: bool,
    /// A signature for the next part.
    signature: Option<String>,
    /// Function calls whose arguments may still grow: index, id, name, arguments.
    calls: Vec<(usize, String, String, String)>,
    usage: Usage,
    finish: Option<FinishReason>,
}

impl Parts {
    fn new(include_thoughts: bool) -> Parts {
        Parts {
            include_thoughts,
            signature: None,
            calls: Vec::new(),
            usage: Usage::default(),
            finish: None,
        }
    }

    /// The parts complete after `event`.
    fn push(&mut self, event: &Event) -> Vec<Value> {
        let mut ready = Vec::new();
        if !matches!(
            event,
            Event::ToolCallStart { .. } | Event::ToolCallArguments { .. } | Event::Usage(_)
        ) {
            ready.extend(self.flush_calls());
        }
        match event {
            Event::TextDelta(text) => ready.push(self.signed(json!({"text": text}))),
            Event::ReasoningDelta(text) if self.include_thoughts => {
                ready.push(json!({"text": text, "thought": true}));
            }
            Event::ReasoningSignature(signature) => self.signature = Some(signature.clone()),
            Event::ToolCallStart { index, id, name } => {
                self.calls
                    .push((*index, id.clone(), name.clone(), String::new()));
            }
            Event::ToolCallArguments { index, fragment } => {
                if let Some(call) = self.calls.iter_mut().rfind(|c| c.0 == *index) {
                    call.3.push_str(fragment);
                }
            }
            Event::Usage(usage) => self.usage.update(usage),
            Event::Finish(reason) => {
                self.finish = Some(*reason);
                if let Some(signature) = self.signature.take() {
                    ready.push(json!({"text": "", "thoughtSignature": signature}));
                }
            }
            // No Gemini form: encrypted reasoning; thoughts not asked for.
            Event::ReasoningDelta(_)
            | Event::RedactedReasoning(_)
            | Event::Session(_)
            | Event::StopSequence(_)
            | Event::Verbatim { .. } => {}
        }
        ready
    }

    fn flush_calls(&mut self) -> Vec<Value> {
        let calls = std::mem::take(&mut self.calls);
        calls
            .into_iter()
            .map(|(_, id, name, arguments)| {
                let args = arguments_object(&arguments);
                self.signed(json!({"functionCall": {"id": id, "name": name, "args": args}}))
            })
            .collect()
    }

    fn signed(&mut self, mut part: Value) -> Value {
        if let Some(signature) = self.signature.take() {
            part["thoughtSignature"] = json!(signature);
        }
        part
    }

    /// One response of `parts`; the last has the finish reason and usage.
    fn response(&self, meta: &AnswerMeta, parts: Vec<Value>) -> Value {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut response = json!({
            "modelVersion": meta.model,
            "responseId": meta.request_id,
        });
        if let Some(reason) = self.finish {
            candidate["finishReason"] = json!(finish_reason(reason));
            response["usageMetadata"] = usage_json(&self.usage);
        }
        response["candidates"] = json!([candidate]);
        response
    }
}

/// The chunks of one streamed answer.
#[derive(Debug)]
struct ChunkEncoder {
    parts: Parts,
    meta: AnswerMeta,
}

impl Encoder for ChunkEncoder {
    fn open(&mut self) -> Vec<Frame> {
        Vec::new()
    }

    fn event(&mut self, event: &Event) -> Vec<Frame> {
        let mut ready = self.parts.push(event);
        let last = matches!(event, Event::Finish(_));
        if ready.is_empty() && !last {
            return Vec::new();
        }
        if ready.is_empty() {
            ready.push(json!({"text": ""}));
        }
        vec![Frame::data(&self.parts.response(&self.meta, ready))]
    }

    fn error(&mut self, error: &Error) -> Frame {
        Frame::data(&error_body(error))
    }
}

/// One whole answer.
#[derive(Debug)]
struct WholeFolder {
    parts: Parts,
    meta: AnswerMeta,
    ready: Vec<Value>,
}

impl Folder for WholeFolder {
    fn push(&mut self, event: &Event) {
        for part in self.parts.push(event) {
            // Consecutive text (or thoughts) make one part.
            let same = |last: &Value| {
                last.get("text").is_some()
                    && part.get("text").is_some()
                    && last.get("thought") == part.get("thought")
                    && part.get("thoughtSignature").is_none()
                    && last.get("thoughtSignature").is_none()
            };
            match self.ready.last_mut() {
                Some(last) if same(last) => {
                    let more = part["text"].as_str().unwrap_or_default();
                    if let Some(Value::String(text)) = last.get_mut("text") {
                        text.push_str(more);
                    }
                }
                _ => self.ready.push(part),
            }
        }
    }

    fn body(&self) -> Value {
        self.parts.response(&self.meta, self.ready.clone())
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::ToolCalls => "STOP",
        FinishReason::Length => "MAX_TOKENS",
        FinishReason::ContentFilter => "SAFETY",
    }
}

/// `usageMetadata`: the candidates' count leaves the thoughts out.
pub fn usage_json(usage: &Usage) -> Value {
    let input = usage.input_tokens.unwrap_or(0);
    let output = usage.output_tokens.unwrap_or(0);
    let thoughts = usage.reasoning_tokens.unwrap_or(0);
    let mut out = json!({
        "promptTokenCount": input,
        "candidatesTokenCount": output.saturating_sub(thoughts),
        "totalTokenCount": input.saturating_add(output),
    });
    if let Some(cached) = usage.cache_read_tokens {
        out["cachedContentTokenCount"] = json!(cached);
    }
    if thoughts > 0 {
        out["thoughtsTokenCount"] = json!(thoughts);
    }
    out
}

/// Google's error envelope: `{"error": {"code", "message", "status"}}`.
pub fn error_body(error: &Error) -> Value {
    let status = match error.kind() {
        ErrorKind::InvalidRequest => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::PermissionDenied => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
        ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Api => "INTERNAL",
    };
    json!({"error": {
        "code": error.status().as_u16(),
        "message": error.to_string(),
        "status": status,
    }})
}

#[cfg(test)]
mod tests;
