//! The OpenAI Chat Completions dialect (no current CLI uses it; handy for other clients):
//! `POST .../chat/completions`, whole or streamed as `chat.completion.chunk` data lines, a usage
//! chunk and `[DONE]`. Reasoning goes in `reasoning_content`. Also `POST .../embeddings`.
//!
//! It only translates between this wire shape and a [`Decision`]: it must not decide anything
//! itself, nor handle errors, markers or pacing (the router and [`super::stream`] do).

use serde_json::{Value, json};

use super::REASONING_TEXT;
use super::decide::{
    Reply, Transcript, list, merged, model_of, new_id, openai_shell_tool, split_in, str_at,
    text_of, tool_name, unix_now, wants_stream,
};
use super::stream::{Answer, SseFrame};

pub(super) fn answer(body: &Value) -> Answer {
    let mut transcript = Transcript::default();
    for message in list(body, "messages") {
        let content = message.get("content").unwrap_or(&Value::Null);
        match str_at(message, "role") {
            "tool" => transcript.saw_tool_output(text_of(content)),
            // Each text part on its own: CLIs put injected context in parts of its own.
            "user" => match content {
                Value::Array(parts) => {
                    for part in parts.iter().filter(|p| str_at(p, "type") == "text") {
                        transcript.saw_user_text(str_at(part, "text"));
                    }
                }
                other => transcript.saw_user_text(&text_of(other)),
            },
            _ => {}
        }
    }
    let names: Vec<&str> = list(body, "tools").iter().map(tool_name).collect();
    let decision = transcript.decide(openai_shell_tool(&names));

    let (mut message, finish_reason) = match &decision.reply {
        Reply::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::Tool { name, args } => {
            let call = json!({"id": new_id("call_", 24), "type": "function",
                              "function": {"name": name, "arguments": args.to_string()}});
            (
                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                "tool_calls",
            )
        }
    };
    if decision.think {
        message = merged(message, json!({"reasoning_content": REASONING_TEXT}));
    }
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17});
    let base =
        json!({"id": new_id("chatcmpl-", 24), "created": unix_now(), "model": model_of(body)});
    if !wants_stream(body) {
        let choice = json!({"index": 0, "message": message, "finish_reason": finish_reason});
        let rest = json!({"object": "chat.completion", "choices": [choice], "usage": usage});
        return Answer::Json(merged(base, rest));
    }
    let base = merged(base, json!({"object": "chat.completion.chunk"}));
    let chunk = |delta: Value, finish: Value| {
        let choice = json!({"index": 0, "delta": delta, "finish_reason": finish});
        SseFrame::data(&merged(base.clone(), json!({"choices": [choice]})).to_string())
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if decision.think {
        for piece in split_in(REASONING_TEXT, 2) {
            frames.push(chunk(json!({"reasoning_content": piece}), Value::Null));
        }
    }
    match &decision.reply {
        Reply::Text(text) => {
            for piece in split_in(text, 3) {
                frames.push(chunk(json!({"content": piece}), Value::Null).text_delta_if(true));
            }
        }
        Reply::Tool { .. } => {
            let call = message
                .pointer("/tool_calls/0")
                .cloned()
                .unwrap_or(Value::Null);
            let call = merged(call, json!({"index": 0}));
            frames.push(chunk(json!({"tool_calls": [call]}), Value::Null));
        }
    }
    frames.push(chunk(json!({}), json!(finish_reason)));
    let usage_chunk = merged(base, json!({"choices": [], "usage": usage}));
    frames.push(SseFrame::data(&usage_chunk.to_string()));
    frames.push(SseFrame::data("[DONE]"));
    Answer::Sse(frames)
}

/// `POST .../embeddings`: for each input string, the vector `[chars, first byte, 0.5]`, as
/// floats or (`encoding_format: "base64"`, the SDKs' default) little-endian f32 in base64.
pub(super) fn embeddings(body: &Value) -> Value {
    use base64::Engine as _;
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_owned)
            })
            .collect(),
        _ => Vec::new(),
    };
    let base64 = str_at(body, "encoding_format") == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            #[allow(clippy::cast_precision_loss)]
            let vector = [
                text.chars().count() as f32,
                f32::from(text.bytes().next().unwrap_or(0)),
                0.5,
            ];
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = inputs.iter().map(|t| t.len().div_ceil(4)).sum::<usize>();
    json!({"object": "list", "data": data, "model": model_of(body),
           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
}
