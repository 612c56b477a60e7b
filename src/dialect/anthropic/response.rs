//! Events → Anthropic Messages answers: the named server-sent events of a
//! stream (`message_start`, `content_block_start` / `_delta` / `_stop`,
//! `message_delta`, `message_stop`, `ping`, `error`) or one `message`
//! body, and errors → Anthropic's envelope. Pure: the id and model are
//! given by the caller.
//!
//! Content blocks follow one another: text, thinking (its signature closes
//! it), redacted thinking and tool calls each open a block when the one
//! before is of another kind. Usage is given back in Anthropic's terms:
//! `input_tokens` counts the prompt tokens not read from or written to the
//! cache, which are counted apart.

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::dialect::{AnswerMeta, Codec, Encoder, Folder, Frame, arguments_object};
use crate::error::{Error, ErrorKind};
use crate::event::{Event, FinishReason, Usage};

/// Messages answers to one request.
#[derive(Debug, Clone, Copy)]
pub struct MessagesCodec;

impl Codec for MessagesCodec {
    fn encoder(&self, meta: AnswerMeta) -> Box<dyn Encoder> {
        Box::new(MessageEncoder {
            meta,
            started: false,
            blocks: 0,
            open: None,
            tool_blocks: Vec::new(),
            usage: Usage::default(),
            called_tools: false,
            stop_sequence: None,
        })
    }

    fn folder(&self, meta: AnswerMeta) -> Box<dyn Folder> {
        Box::new(MessageFolder {
            meta,
            content: Vec::new(),
            tool_arguments: Vec::new(),
            usage: Usage::default(),
            finish: None,
            stop_sequence: None,
        })
    }
}

/// The kind of the content block being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// The tool call of this index.
    Tool(usize),
}

/// The events of one streamed message.
#[derive(Debug)]
struct MessageEncoder {
    meta: AnswerMeta,
    /// `message_start` was written.
    started: bool,
    /// Blocks opened so far (the next block's index).
    blocks: usize,
    /// The block being written, with its index (`blocks - 1`).
    open: Option<Open>,
    /// The block index of each tool call, by the call's index.
    tool_blocks: Vec<(usize, usize)>,
    usage: Usage,
    called_tools: bool,
    /// The stop sequence the answer ended at.
    stop_sequence: Option<String>,
}

impl MessageEncoder {
    /// `message_start`, before the first other frame.
    fn start(&mut self, frames: &mut Vec<Frame>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut message = message_shell(&self.meta);
        message["usage"] = usage_json(&self.usage, false);
        frames.push(named(
            "message_start",
            &json!({"type": "message_start", "message": message}),
        ));
    }

    /// Closes the open block.
    fn close(&mut self, frames: &mut Vec<Frame>) {
        if self.open.take().is_some() {
            let index = self.blocks - 1;
            frames.push(named(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// Opens a block of kind `open` (closing the one before), unless one of
    /// that kind is open.
    fn ensure(&mut self, open: Open, block: Value, frames: &mut Vec<Frame>) -> usize {
        self.start(frames);
        if self.open != Some(open) {
            self.close(frames);
            frames.push(named(
                "content_block_start",
                &json!({"type": "content_block_start", "index": self.blocks, "content_block": block}),
            ));
            self.blocks += 1;
            self.open = Some(open);
        }
        self.blocks - 1
    }

    fn delta(index: usize, delta: &Value) -> Frame {
        named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    /// A delta of one string field (`text_delta`'s `text`…), written
    /// without building a JSON tree: most frames of a stream are these.
    fn text_delta(index: usize, kind: &str, field: &str, text: &str) -> Frame {
        let mut data = Vec::with_capacity(text.len() + 96);
        data.extend_from_slice(br#"{"type":"content_block_delta","index":"#);
        data.extend_from_slice(index.to_string().as_bytes());
        data.extend_from_slice(br#","delta":{"type":""#);
        data.extend_from_slice(kind.as_bytes());
        data.extend_from_slice(b"\",\"");
        data.extend_from_slice(field.as_bytes());
        data.extend_from_slice(b"\":");
        // Writing a string as JSON into memory cannot fail, and is UTF-8.
        let _ = serde_json::to_writer(&mut data, text);
        data.extend_from_slice(b"}}");
        Frame {
            event: Some(Cow::Borrowed("content_block_delta")),
            data: String::from_utf8(data).unwrap_or_default(),
        }
    }
}

impl Encoder for MessageEncoder {
    fn open(&mut self) -> Vec<Frame> {
        // `message_start` waits for the first event, so it can carry the
        // input tokens a backend reports before answering.
        Vec::new()
    }

    fn event(&mut self, event: &Event) -> Vec<Frame> {
        let mut frames = Vec::new();
        match event {
            Event::TextDelta(text) => {
                let block = json!({"type": "text", "text": ""});
                let index = self.ensure(Open::Text, block, &mut frames);
                frames.push(Self::text_delta(index, "text_delta", "text", text));
            }
            Event::ReasoningDelta(text) => {
                let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                let index = self.ensure(Open::Thinking, block, &mut frames);
                frames.push(Self::text_delta(index, "thinking_delta", "thinking", text));
            }
            Event::ReasoningSignature(signature) => {
                let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                let index = self.ensure(Open::Thinking, block, &mut frames);
                frames.push(Self::delta(
                    index,
                    &json!({"type": "signature_delta", "signature": signature}),
                ));
                self.close(&mut frames);
            }
            Event::RedactedReasoning(data) => {
                self.start(&mut frames);
                self.close(&mut frames);
                frames.push(named(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": self.blocks,
                            "content_block": {"type": "redacted_thinking", "data": data}}),
                ));
                self.blocks += 1;
                self.open = Some(Open::Thinking);
                self.close(&mut frames);
            }
            Event::ToolCallStart { index, id, name } => {
                self.called_tools = true;
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                // A second start of the same call opens a second block.
                self.close_if(Open::Tool(*index), &mut frames);
                let position = self.ensure(Open::Tool(*index), block, &mut frames);
                self.tool_blocks.push((*index, position));
            }
            Event::ToolCallArguments { index, fragment } => {
                // Deltas name their block, so a fragment of an earlier call
                // (a provider interleaving parallel calls) still finds it.
                let block = self
                    .tool_blocks
                    .iter()
                    .rev()
                    .find(|(call, _)| call == index)
                    .map(|(_, block)| *block);
                if let Some(block) = block {
                    self.start(&mut frames);
                    frames.push(Self::text_delta(
                        block,
                        "input_json_delta",
                        "partial_json",
                        fragment,
                    ));
                }
            }
            // The upstream's own words are the pipeline's to pass on.
            Event::Session(_) | Event::Verbatim { .. } => {}
            Event::StopSequence(sequence) => self.stop_sequence = Some(sequence.clone()),
            Event::Usage(usage) => self.usage.update(usage),
            Event::Finish(reason) => {
                self.start(&mut frames);
                self.close(&mut frames);
                let (stop, sequence) =
                    stop_of(*reason, self.called_tools, self.stop_sequence.as_deref());
                frames.push(named(
                    "message_delta",
                    &json!({
                        "type": "message_delta",
                        "delta": {"stop_reason": stop, "stop_sequence": sequence},
                        "usage": usage_json(&self.usage, true),
                    }),
                ));
                frames.push(named("message_stop", &json!({"type": "message_stop"})));
            }
        }
        frames
    }

    fn error(&mut self, error: &Error) -> Frame {
        named("error", &error_body(error))
    }

    fn keepalive(&mut self) -> Vec<Frame> {
        // Before the message started (it may be the upstream's own, passed
        // on), a comment: a `ping` event belongs after `message_start`.
        if !self.started {
            return Vec::new();
        }
        vec![named("ping", &json!({"type": "ping"}))]
    }
}

impl MessageEncoder {
    /// Closes the open block if it is `open` (a call started again).
    fn close_if(&mut self, open: Open, frames: &mut Vec<Frame>) {
        if self.open == Some(open) {
            self.close(frames);
        }
    }
}

/// One `message` folded from the events.
#[derive(Debug)]
struct MessageFolder {
    meta: AnswerMeta,
    content: Vec<Value>,
    /// The arguments of each tool call, by call index, and its block.
    tool_arguments: Vec<(usize, usize, String)>,
    usage: Usage,
    finish: Option<FinishReason>,
    stop_sequence: Option<String>,
}

impl MessageFolder {
    /// The last block, if it is of type `kind`.
    fn last_of(&mut self, kind: &str) -> Option<&mut Value> {
        self.content
            .last_mut()
            .filter(|block| block["type"] == kind && block.get("signature").is_none_or(|s| s == ""))
    }
}

impl Folder for MessageFolder {
    fn push(&mut self, event: &Event) {
        match event {
            Event::TextDelta(text) => match self.last_of("text") {
                Some(block) => append(&mut block["text"], text),
                None => self.content.push(json!({"type": "text", "text": text})),
            },
            Event::ReasoningDelta(text) => match self.last_of("thinking") {
                Some(block) => append(&mut block["thinking"], text),
                None => self
                    .content
                    .push(json!({"type": "thinking", "thinking": text, "signature": ""})),
            },
            Event::ReasoningSignature(signature) => match self.last_of("thinking") {
                Some(block) => block["signature"] = json!(signature),
                None => self
                    .content
                    .push(json!({"type": "thinking", "thinking": "", "signature": signature})),
            },
            Event::RedactedReasoning(data) => self
                .content
                .push(json!({"type": "redacted_thinking", "data": data})),
            Event::ToolCallStart { index, id, name } => {
                self.tool_arguments
                    .push((*index, self.content.len(), String::new()));
                self.content
                    .push(json!({"type": "tool_use", "id": id, "name": name, "input": {}}));
            }
            Event::ToolCallArguments { index, fragment } => {
                if let Some((_, _, arguments)) = self
                    .tool_arguments
                    .iter_mut()
                    .rev()
                    .find(|(i, ..)| i == index)
                {
                    arguments.push_str(fragment);
                }
            }
            Event::Session(_) => {}
            Event::StopSequence(sequence) => self.stop_sequence = Some(sequence.clone()),
            Event::Usage(usage) => self.usage.update(usage),
            Event::Finish(reason) => self.finish = Some(*reason),
            // The upstream's own words are the pipeline's to pass on.
            Event::Verbatim { .. } => {}
        }
    }

    fn body(&self) -> Value {
        let mut content = self.content.clone();
        for (_, block, arguments) in &self.tool_arguments {
            content[*block]["input"] = arguments_object(arguments);
        }
        let mut body = message_shell(&self.meta);
        body["content"] = Value::Array(content);
        let (stop, sequence) = stop_of(
            self.finish.unwrap_or(FinishReason::Stop),
            !self.tool_arguments.is_empty(),
            self.stop_sequence.as_deref(),
        );
        body["stop_reason"] = json!(stop);
        body["stop_sequence"] = json!(sequence);
        body["usage"] = usage_json(&self.usage, false);
        body
    }
}

fn append(field: &mut Value, text: &str) {
    if let Value::String(existing) = field {
        existing.push_str(text);
    }
}

/// A message with no content yet.
fn message_shell(meta: &AnswerMeta) -> Value {
    json!({
        "id": message_id(meta),
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    })
}

fn message_id(meta: &AnswerMeta) -> String {
    let id: String = meta
        .request_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("msg_{id}")
}

fn named(event: &'static str, data: &Value) -> Frame {
    Frame {
        event: Some(event.into()),
        data: data.to_string(),
    }
}

/// Anthropic's stop reason and stop sequence: a plain stop at a stop
/// sequence says which.
fn stop_of(
    reason: FinishReason,
    called_tools: bool,
    sequence: Option<&str>,
) -> (&'static str, Option<&str>) {
    match (reason, sequence) {
        (FinishReason::Stop, Some(sequence)) if !called_tools => ("stop_sequence", Some(sequence)),
        _ => (stop_reason(reason, called_tools), None),
    }
}

/// Anthropic's stop reason for `reason`; an answer that called tools and
/// then stopped waits for their results.
fn stop_reason(reason: FinishReason, called_tools: bool) -> &'static str {
    match reason {
        FinishReason::Stop if called_tools => "tool_use",
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Anthropic `usage`: the prompt tokens neither read from nor written to
/// the cache, and those two apart. In `message_delta` (`delta`) only what
/// is known is given; a message's usage always has both counts.
pub fn usage_json(usage: &Usage, delta: bool) -> Value {
    let read = usage.cache_read_tokens.unwrap_or(0);
    let written = usage.cache_write_tokens.unwrap_or(0);
    let mut out = serde_json::Map::new();
    if let Some(input) = usage.input_tokens.or((!delta).then_some(0)) {
        out.insert(
            "input_tokens".into(),
            json!(input.saturating_sub(read.saturating_add(written))),
        );
    }
    if let Some(read) = usage.cache_read_tokens {
        out.insert("cache_read_input_tokens".into(), json!(read));
    }
    if let Some(written) = usage.cache_write_tokens {
        out.insert("cache_creation_input_tokens".into(), json!(written));
    }
    out.insert(
        "output_tokens".into(),
        json!(usage.output_tokens.unwrap_or(0)),
    );
    Value::Object(out)
}

/// Anthropic's error envelope: `{"type": "error", "error": {"type", "message"}}`.
pub fn error_body(error: &Error) -> Value {
    let kind = match error.kind() {
        ErrorKind::InvalidRequest if error.status().as_u16() == 413 => "request_too_large",
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Api => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": error.to_string()}})
}

#[cfg(test)]
mod tests;
