//! Events → Chat Completions chunks (streaming) or one completion (folded),
//! and errors → the OpenAI error envelope. Pure: the id, creation time and
//! model are given by the caller.

use serde_json::{Value, json};

use crate::dialect::{AnswerMeta, Codec, Encoder, Folder, Frame};
use crate::error::{Error, ErrorKind};
use crate::event::{Event, FinishReason, Usage};

/// Chat Completions answers to one request.
#[derive(Debug, Clone, Copy)]
pub struct ChatCodec {
    /// `stream_options.include_usage`: end a stream with a usage chunk.
    pub include_usage: bool,
}

impl Codec for ChatCodec {
    fn encoder(&self, meta: AnswerMeta) -> Box<dyn Encoder> {
        Box::new(ChunkEncoder {
            prefix: chunk_prefix(&meta),
            include_usage: self.include_usage,
            usage: Usage::default(),
            session: None,
            called_tools: false,
            thinking: String::new(),
            meta,
        })
    }

    fn folder(&self, meta: AnswerMeta) -> Box<dyn Folder> {
        Box::new(Completion {
            meta,
            answer: Collected::default(),
        })
    }
}

/// The chunks of one streamed completion.
#[derive(Debug)]
struct ChunkEncoder {
    meta: AnswerMeta,
    /// Every chunk's JSON up to its delta, made once: most chunks are one
    /// short delta, written without building a JSON tree.
    prefix: String,
    include_usage: bool,
    usage: Usage,
    session: Option<String>,
    /// A tool call was streamed: the answer finishes with `tool_calls`.
    called_tools: bool,
    /// The reasoning since the last signed block, to give with its signature.
    thinking: String,
}

impl ChunkEncoder {
    /// A chunk whose delta is one string field, and no finish reason.
    fn text_field(&self, name: &str, text: &str) -> Frame {
        let mut data = Vec::with_capacity(self.prefix.len() + name.len() + text.len() + 40);
        data.extend_from_slice(self.prefix.as_bytes());
        data.extend_from_slice(b"{\"");
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(b"\":");
        // Writing a string as JSON into memory cannot fail, and is UTF-8.
        let _ = serde_json::to_writer(&mut data, text);
        data.extend_from_slice(b"},\"finish_reason\":null}]}");
        Frame {
            event: None,
            data: String::from_utf8(data).unwrap_or_default(),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": completion_id(&self.meta),
            "object": "chat.completion.chunk",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// The last frames: the finish chunk (with the backend's session id when
    /// known), the usage chunk when asked for, and `[DONE]`.
    fn close(&self, reason: FinishReason) -> Vec<Frame> {
        let reason = with_tool_calls(reason, self.called_tools);
        let mut finish = self.chunk(json!({}), Some(finish_reason(reason)));
        if let Some(session) = &self.session {
            finish["session_id"] = json!(session);
        }
        let mut frames = vec![Frame::data(&finish)];
        if self.include_usage && !self.usage.is_empty() {
            frames.push(Frame::data(&json!({
                "id": completion_id(&self.meta),
                "object": "chat.completion.chunk",
                "created": self.meta.created,
                "model": self.meta.model,
                "choices": [],
                "usage": usage_json(&self.usage),
            })));
        }
        frames.push(Frame {
            event: None,
            data: "[DONE]".to_owned(),
        });
        frames
    }
}

impl Encoder for ChunkEncoder {
    fn open(&mut self) -> Vec<Frame> {
        vec![Frame::data(
            &self.chunk(json!({"role": "assistant", "content": ""}), None),
        )]
    }

    fn event(&mut self, event: &Event) -> Vec<Frame> {
        match event {
            Event::TextDelta(text) => vec![self.text_field("content", text)],
            Event::ReasoningDelta(text) => {
                self.thinking.push_str(text);
                vec![self.text_field("reasoning_content", text)]
            }
            Event::ReasoningSignature(signature) => {
                let thinking = std::mem::take(&mut self.thinking);
                let block = signed_block(&thinking, signature);
                vec![Frame::data(
                    &self.chunk(json!({"thinking_blocks": [block]}), None),
                )]
            }
            Event::RedactedReasoning(data) => vec![Frame::data(
                &self.chunk(json!({"thinking_blocks": [redacted_block(data)]}), None),
            )],
            Event::ToolCallStart { index, id, name } => {
                self.called_tools = true;
                vec![Frame::data(&self.chunk(
                    json!({"tool_calls": [{
                        "index": index,
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}),
                    None,
                ))]
            }
            Event::ToolCallArguments { index, fragment } => vec![Frame::data(&self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            ))],
            Event::Session(id) => {
                self.session = Some(id.clone());
                Vec::new()
            }
            Event::Usage(usage) => {
                self.usage.update(usage);
                Vec::new()
            }
            Event::Finish(reason) => self.close(*reason),
            // The upstream's own words are for clients of its dialect;
            // a stop sequence is a plain `stop` here.
            Event::Verbatim { .. } | Event::StopSequence(_) => Vec::new(),
        }
    }

    fn error(&mut self, error: &Error) -> Frame {
        Frame::data(&error_body(error))
    }
}

/// Everything a folded answer is made of.
#[derive(Debug, Default, Clone)]
struct Collected {
    text: String,
    reasoning: String,
    /// Signed and redacted reasoning blocks, to be sent back.
    thinking_blocks: Vec<Value>,
    /// Where the reasoning not yet signed starts in `reasoning`.
    unsigned_from: usize,
    /// Tool calls by index: id, name, arguments.
    tool_calls: std::collections::BTreeMap<usize, (String, String, String)>,
    usage: Usage,
    session: Option<String>,
    finish: Option<FinishReason>,
}

/// One `chat.completion` folded from the events.
#[derive(Debug)]
struct Completion {
    meta: AnswerMeta,
    answer: Collected,
}

impl Folder for Completion {
    fn push(&mut self, event: &Event) {
        let answer = &mut self.answer;
        match event {
            Event::TextDelta(text) => answer.text.push_str(text),
            Event::ReasoningDelta(text) => answer.reasoning.push_str(text),
            Event::ReasoningSignature(signature) => {
                let thinking = &answer.reasoning[answer.unsigned_from..];
                answer
                    .thinking_blocks
                    .push(signed_block(thinking, signature));
                answer.unsigned_from = answer.reasoning.len();
            }
            Event::RedactedReasoning(data) => answer.thinking_blocks.push(redacted_block(data)),
            Event::ToolCallStart { index, id, name } => {
                answer
                    .tool_calls
                    .insert(*index, (id.clone(), name.clone(), String::new()));
            }
            Event::ToolCallArguments { index, fragment } => {
                if let Some(call) = answer.tool_calls.get_mut(index) {
                    call.2.push_str(fragment);
                }
            }
            Event::Session(id) => answer.session = Some(id.clone()),
            Event::Usage(usage) => answer.usage.update(usage),
            Event::Finish(reason) => answer.finish = Some(*reason),
            Event::Verbatim { .. } | Event::StopSequence(_) => {}
        }
    }

    fn body(&self) -> Value {
        let answer = &self.answer;
        let content = if answer.text.is_empty() && !answer.tool_calls.is_empty() {
            Value::Null
        } else {
            json!(answer.text)
        };
        let mut message = json!({"role": "assistant", "content": content});
        if !answer.reasoning.is_empty() {
            message["reasoning_content"] = json!(answer.reasoning);
        }
        if !answer.thinking_blocks.is_empty() {
            message["thinking_blocks"] = json!(answer.thinking_blocks);
        }
        if !answer.tool_calls.is_empty() {
            let calls: Vec<Value> = answer
                .tool_calls
                .values()
                .map(|(id, name, arguments)| {
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
                })
                .collect();
            message["tool_calls"] = json!(calls);
        }
        let mut body = json!({
            "id": completion_id(&self.meta),
            "object": "chat.completion",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": [{
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(with_tool_calls(
                    answer.finish.unwrap_or(FinishReason::Stop),
                    !answer.tool_calls.is_empty(),
                )),
            }],
        });
        if !answer.usage.is_empty() {
            body["usage"] = usage_json(&answer.usage);
        }
        if let Some(session) = &answer.session {
            body["session_id"] = json!(session);
        }
        body
    }
}

/// A signed reasoning block as the client gets it in `thinking_blocks`
/// (LiteLLM's shape), to send back in the assistant message.
fn signed_block(thinking: &str, signature: &str) -> Value {
    json!({"type": "thinking", "thinking": thinking, "signature": signature})
}

/// An encrypted reasoning block, in `thinking_blocks`.
fn redacted_block(data: &str) -> Value {
    json!({"type": "redacted_thinking", "data": data})
}

/// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[{"index":0,"delta":`
fn chunk_prefix(meta: &AnswerMeta) -> String {
    format!(
        "{{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{},\"choices\":[{{\"index\":0,\"delta\":",
        Value::from(completion_id(meta)),
        meta.created,
        Value::from(meta.model.as_str())
    )
}

fn completion_id(meta: &AnswerMeta) -> String {
    format!("chatcmpl-{}", meta.request_id)
}

/// An answer that called tools and then stopped finished to have them run.
fn with_tool_calls(reason: FinishReason, called_tools: bool) -> FinishReason {
    match reason {
        FinishReason::Stop if called_tools => FinishReason::ToolCalls,
        other => other,
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// OpenAI `usage` from our counts.
pub fn usage_json(usage: &Usage) -> Value {
    let input = usage.input_tokens.unwrap_or(0);
    let output = usage.output_tokens.unwrap_or(0);
    let mut out = json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": input.saturating_add(output),
    });
    if usage.cache_read_tokens.is_some() || usage.cache_write_tokens.is_some() {
        let mut details = json!({"cached_tokens": usage.cache_read_tokens.unwrap_or(0)});
        if let Some(written) = usage.cache_write_tokens {
            details["cache_write_tokens"] = json!(written);
        }
        out["prompt_tokens_details"] = details;
    }
    if let Some(reasoning) = usage.reasoning_tokens {
        out["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
    }
    out
}

/// The OpenAI error envelope: `{"error": {"message", "type", "param", "code"}}`.
pub fn error_body(error: &Error) -> Value {
    let kind = match error.kind() {
        ErrorKind::InvalidRequest | ErrorKind::NotFound => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Api => "api_error",
    };
    json!({
        "error": {
            "message": error.to_string(),
            "type": kind,
            "param": null,
            "code": error.code(),
        }
    })
}

#[cfg(test)]
mod tests;
