//! The Anthropic Messages dialect (Claude Code): `POST .../messages`, whole or streamed as
//! `message_start`, content blocks (thinking, text or `tool_use` with their deltas),
//! `message_delta` and `message_stop`. The shell tool is `Bash`.
//!
//! It only translates between this wire shape and a [`Decision`]: it must not decide anything
//! itself, nor handle errors, markers or pacing (the router and [`super::stream`] do).

use serde_json::{Value, json};

use super::REASONING_TEXT;
use super::decide::{
    Decision, Reply, Transcript, content_parts, described_shell_tool, list, merged, model_of,
    new_id, split_in, str_at, text_of, wants_stream,
};
use super::stream::{Answer, SseFrame};

pub(super) fn answer(body: &Value) -> Answer {
    let mut transcript = Transcript::default();
    for message in list(body, "messages") {
        let parts = content_parts(message.get("content"), "text");
        let is_a = |part: &&Value, kind: &str| str_at(part, "type") == kind;
        if let Some(result) = parts.iter().rfind(|p| is_a(p, "tool_result")) {
            transcript.saw_tool_output(text_of(result.get("content").unwrap_or(&Value::Null)));
        } else if str_at(message, "role") == "user" {
            for part in parts.iter().filter(|p| is_a(p, "text")) {
                transcript.saw_user_text(str_at(part, "text"));
            }
        }
    }
    let offers_bash = list(body, "tools")
        .iter()
        .any(|tool| str_at(tool, "name") == "Bash");
    let decision = transcript.decide(described_shell_tool("Bash", offers_bash));

    let stop_reason = if decision.is_tool() {
        "tool_use"
    } else {
        "end_turn"
    };
    let usage = |output_tokens: u32| {
        json!({"input_tokens": 12, "output_tokens": output_tokens,
               "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
    };
    let message = json!({"id": new_id("msg_", 24), "type": "message", "role": "assistant",
                         "model": model_of(body), "content": [], "stop_reason": null,
                         "stop_sequence": null, "usage": usage(1)});
    let blocks = blocks(&decision);
    if !wants_stream(body) {
        let content: Vec<Value> = blocks.into_iter().map(|block| block.whole).collect();
        let whole = json!({"content": content, "stop_reason": stop_reason, "usage": usage(5)});
        return Answer::Json(merged(message, whole));
    }
    let event = |data: Value| SseFrame::named(str_at(&data, "type"), &data);
    let mut frames = vec![event(json!({"type": "message_start", "message": message}))];
    for (index, block) in blocks.into_iter().enumerate() {
        let start = block.start;
        frames.push(event(json!({"type": "content_block_start", "index": index,
                                 "content_block": start})));
        if index == 0 {
            frames.push(event(json!({"type": "ping"})));
        }
        for delta in block.deltas {
            let is_text = str_at(&delta, "type") == "text_delta";
            let data = json!({"type": "content_block_delta", "index": index, "delta": delta});
            frames.push(event(data).text_delta_if(is_text));
        }
        frames.push(event(json!({"type": "content_block_stop", "index": index})));
    }
    frames.push(event(
        json!({"type": "message_delta", "usage": {"output_tokens": 5},
                             "delta": {"stop_reason": stop_reason, "stop_sequence": null}}),
    ));
    frames.push(event(json!({"type": "message_stop"})));
    Answer::Sse(frames)
}

/// One content block: as it appears in a whole message, and as a streamed start plus deltas.
struct AnthropicBlock {
    whole: Value,
    start: Value,
    deltas: Vec<Value>,
}

fn blocks(decision: &Decision) -> Vec<AnthropicBlock> {
    let mut blocks = Vec::new();
    if decision.think {
        let thinking = split_in(REASONING_TEXT, 2).into_iter();
        let mut deltas: Vec<Value> = thinking
            .map(|piece| json!({"type": "thinking_delta", "thinking": piece}))
            .collect();
        deltas.push(json!({"type": "signature_delta", "signature": "fake-signature"}));
        blocks.push(AnthropicBlock {
            whole: json!({"type": "thinking", "thinking": REASONING_TEXT,
                          "signature": "fake-signature"}),
            start: json!({"type": "thinking", "thinking": "", "signature": ""}),
            deltas,
        });
    }
    blocks.push(match &decision.reply {
        Reply::Text(text) => AnthropicBlock {
            whole: json!({"type": "text", "text": text}),
            start: json!({"type": "text", "text": ""}),
            deltas: split_in(text, 3)
                .into_iter()
                .map(|piece| json!({"type": "text_delta", "text": piece}))
                .collect(),
        },
        Reply::Tool { name, args } => {
            let start = json!({"type": "tool_use", "id": new_id("toolu_", 24), "name": name,
                               "input": {}});
            AnthropicBlock {
                whole: merged(start.clone(), json!({"input": args})),
                start,
                deltas: split_in(&args.to_string(), 2)
                    .into_iter()
                    .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                    .collect(),
            }
        }
    });
    blocks
}
