//! Events → Chat Completions chunks (streaming) or one completion (folded),
//! and errors → the OpenAI error envelope. Pure: the id, creation time and
//! model are given by the caller.

use serde_json::{Value, json};

use crate::error::{Error, ErrorKind};
use crate::event::{Event, FinishReason, Usage};

/// Builds the chunks of one streamed completion.
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    id: String,
    created: u64,
    model: String,
}

impl ChunkEncoder {
    /// An encoder for completion `id`.
    pub fn new(id: String, created: u64, model: String) -> ChunkEncoder {
        ChunkEncoder { id, created, model }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// The first chunk: the assistant role.
    pub fn role(&self) -> Value {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    /// The chunk for one event, if it has one (text and reasoning do).
    pub fn event(&self, event: &Event) -> Option<Value> {
        match event {
            Event::TextDelta(text) => Some(self.chunk(json!({"content": text}), None)),
            Event::ReasoningDelta(text) => {
                Some(self.chunk(json!({"reasoning_content": text}), None))
            }
            Event::Session(_) | Event::Usage(_) | Event::Finish(_) => None,
        }
    }

    /// The last choice chunk; carries the backend's session id when known.
    pub fn finish(&self, reason: FinishReason, session: Option<&str>) -> Value {
        let mut chunk = self.chunk(json!({}), Some(finish_reason(reason)));
        if let Some(session) = session {
            chunk["session_id"] = json!(session);
        }
        chunk
    }

    /// The usage chunk sent when `stream_options.include_usage` is set.
    pub fn usage(&self, usage: &Usage) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage),
        })
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// OpenAI `usage` from our counts.
pub fn usage_json(usage: &Usage) -> Value {
    let input = usage.input_tokens.unwrap_or(0);
    let output = usage.output_tokens.unwrap_or(0);
    let mut out = json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": input + output,
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

/// Folds a whole event stream into one completion.
#[derive(Debug, Default, Clone)]
pub struct Collector {
    /// Answer text.
    pub text: String,
    /// Reasoning text.
    pub reasoning: String,
    /// Usage, if reported.
    pub usage: Usage,
    /// Backend session id.
    pub session: Option<String>,
    /// How it ended.
    pub finish: Option<FinishReason>,
}

impl Collector {
    /// Adds one event.
    pub fn push(&mut self, event: &Event) {
        match event {
            Event::TextDelta(text) => self.text.push_str(text),
            Event::ReasoningDelta(text) => self.reasoning.push_str(text),
            Event::Session(id) => self.session = Some(id.clone()),
            Event::Usage(usage) => self.usage.update(usage),
            Event::Finish(reason) => self.finish = Some(*reason),
        }
    }

    /// The `chat.completion` object.
    pub fn completion(&self, id: &str, created: u64, model: &str) -> Value {
        let mut message = json!({"role": "assistant", "content": self.text});
        if !self.reasoning.is_empty() {
            message["reasoning_content"] = json!(self.reasoning);
        }
        let mut body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(self.finish.unwrap_or(FinishReason::Stop)),
            }],
        });
        if !self.usage.is_empty() {
            body["usage"] = usage_json(&self.usage);
        }
        if let Some(session) = &self.session {
            body["session_id"] = json!(session);
        }
        body
    }
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
mod tests {
    use super::*;

    #[test]
    fn stream_chunks_follow_the_openai_shape() {
        let enc = ChunkEncoder::new("chatcmpl-1".into(), 7, "m".into());
        assert_eq!(enc.role()["choices"][0]["delta"]["role"], "assistant");
        let text = enc.event(&Event::TextDelta("hi".into())).unwrap();
        assert_eq!(text["choices"][0]["delta"], json!({"content": "hi"}));
        let reasoning = enc.event(&Event::ReasoningDelta("hm".into())).unwrap();
        assert_eq!(
            reasoning["choices"][0]["delta"],
            json!({"reasoning_content": "hm"})
        );
        let fin = enc.finish(FinishReason::Stop, Some("s1"));
        assert_eq!(fin["choices"][0]["finish_reason"], "stop");
        assert_eq!(fin["session_id"], "s1");
        let usage = enc.usage(&Usage {
            input_tokens: Some(12),
            output_tokens: Some(5),
            cache_read_tokens: Some(2),
            ..Usage::default()
        });
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 17);
        assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
    }

    #[test]
    fn folding_keeps_text_reasoning_and_usage() {
        let mut c = Collector::default();
        for e in [
            Event::ReasoningDelta("think".into()),
            Event::TextDelta("hel".into()),
            Event::TextDelta("lo".into()),
            Event::Usage(Usage {
                output_tokens: Some(2),
                ..Usage::default()
            }),
            Event::Finish(FinishReason::Stop),
        ] {
            c.push(&e);
        }
        let body = c.completion("id", 1, "m");
        assert_eq!(body["choices"][0]["message"]["content"], "hello");
        assert_eq!(body["choices"][0]["message"]["reasoning_content"], "think");
        assert_eq!(body["usage"]["completion_tokens"], 2);
    }

    #[test]
    fn errors_use_the_openai_envelope() {
        let body = error_body(&Error::UnknownModel {
            message: "nope".into(),
        });
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "model_not_found");
        let busy = Error::Busy {
            backend: "b".into(),
            detail: "full".into(),
            retry_after_secs: 1,
        };
        assert_eq!(error_body(&busy)["error"]["type"], "rate_limit_error");
    }
}
