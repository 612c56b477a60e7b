//! The OpenAI Responses dialect (Codex): `POST .../responses`, whole or streamed as numbered
//! `response.*` events (created, in progress, each output item with its deltas, completed).
//! The shell tool is the first of Codex's `exec_command`, `shell_command`, `shell` offered, else `Bash` or `run_shell_command`.
//!
//! It only translates between this wire shape and a [`Decision`]: it must not decide anything
//! itself, nor handle errors, markers or pacing (the router and [`super::stream`] do).

use serde_json::{Value, json};

use super::decide::{
    Decision, Reply, Transcript, content_parts, list, merged, model_of, new_id, openai_shell_tool,
    split_in, str_at, tool_name, unix_now, wants_stream,
};
use super::stream::{Answer, SseFrame};
use super::{IMAGE_BASE64, IMAGE_MARKER, REASONING_TEXT};

pub(super) fn answer(body: &Value) -> Answer {
    let input = match body.get("input") {
        Some(Value::String(text)) => vec![json!({"role": "user", "content": text})],
        _ => list(body, "input").to_vec(),
    };
    let mut transcript = Transcript::default();
    for item in &input {
        let kind = str_at(item, "type");
        if matches!(
            kind,
            "function_call_output" | "custom_tool_call_output" | "local_shell_call_output"
        ) {
            let output = item.get("output").unwrap_or(&Value::Null);
            let text = output
                .as_str()
                .map_or_else(|| output.to_string(), str::to_owned);
            transcript.saw_tool_output(text);
        } else if str_at(item, "role") == "user" {
            for part in content_parts(item.get("content"), "input_text") {
                transcript.saw_user_text(str_at(&part, "text"));
            }
        }
    }
    let names: Vec<&str> = list(body, "tools").iter().map(tool_name).collect();
    let decision = transcript.decide(openai_shell_tool(&names));

    let mut output = output_items(&decision);
    let offered_image = list(body, "tools")
        .iter()
        .find(|t| str_at(t, "type") == "image_generation");
    if let Some(tool) = offered_image
        && transcript_asks_image(&input)
    {
        output.insert(output.len() - 1, image_item(tool));
    }
    let reasoning_tokens = if decision.think { 2 } else { 0 };
    let usage = json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
                       "output_tokens": 5, "total_tokens": 17,
                       "output_tokens_details": {"reasoning_tokens": reasoning_tokens}});
    let response = json!({"id": new_id("resp_", 24), "object": "response",
                          "created_at": unix_now(), "status": "in_progress",
                          "model": model_of(body), "output": [], "usage": null});
    let done = json!({"status": "completed", "output": output, "usage": usage});
    let completed = merged(response.clone(), done);
    if !wants_stream(body) {
        return Answer::Json(completed);
    }
    let mut events = ResponsesEvents::default();
    events.push("created", json!({"response": response}));
    events.push("in_progress", json!({"response": response}));
    for (index, item) in output.iter().enumerate() {
        events.push_item(index, item);
    }
    events.push("completed", json!({"response": completed}));
    Answer::Sse(events.frames)
}

/// Whether a user message of `input` asks for an image ([`IMAGE_MARKER`]).
fn transcript_asks_image(input: &[Value]) -> bool {
    input.iter().any(|item| {
        str_at(item, "role") == "user"
            && content_parts(item.get("content"), "input_text")
                .iter()
                .any(|part| str_at(part, "text").contains(IMAGE_MARKER))
    })
}

/// A generated image, echoing the offered tool's settings in its prompt.
fn image_item(tool: &Value) -> Value {
    let format = match str_at(tool, "output_format") {
        "" => "png",
        format => format,
    };
    let revised = format!(
        "a fake image ({}, {})",
        str_at(tool, "size"),
        str_at(tool, "quality")
    );
    json!({"id": new_id("ig_", 24), "type": "image_generation_call", "status": "completed",
           "result": IMAGE_BASE64, "output_format": format, "revised_prompt": revised})
}

fn output_items(decision: &Decision) -> Vec<Value> {
    let mut items = Vec::new();
    if decision.think {
        items.push(
            json!({"id": new_id("rs_", 24), "type": "reasoning", "encrypted_content": null,
                          "summary": [{"type": "summary_text", "text": REASONING_TEXT}]}),
        );
    }
    items.push(match &decision.reply {
        Reply::Text(text) => json!({
            "id": new_id("msg_", 24), "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}),
        Reply::Tool { name, args } => json!({
            "id": new_id("fc_", 24), "type": "function_call", "status": "completed",
            "call_id": new_id("call_", 24), "name": name, "arguments": args.to_string()}),
    });
    items
}

/// Numbers the events (`sequence_number`) and names each SSE event after its `type`.
#[derive(Default)]
struct ResponsesEvents {
    frames: Vec<SseFrame>,
}

impl ResponsesEvents {
    /// `kind` is the event type without its `response.` prefix.
    fn push(&mut self, kind: &str, fields: Value) {
        let kind = format!("response.{kind}");
        let number = self.frames.len();
        let event = merged(json!({"type": kind, "sequence_number": number}), fields);
        let frame = SseFrame::named(&kind, &event);
        self.frames
            .push(frame.text_delta_if(kind == "response.output_text.delta"));
    }

    /// `output_item.added`, the item's own deltas, then `output_item.done`.
    fn push_item(&mut self, index: usize, item: &Value) {
        let kind = str_at(item, "type");
        let placeholder = match kind {
            "reasoning" => json!({"summary": []}),
            "message" => json!({"status": "in_progress", "content": []}),
            "image_generation_call" => json!({"status": "in_progress", "result": null}),
            _ => json!({"status": "in_progress", "arguments": ""}),
        };
        let added = json!({"output_index": index, "item": merged(item.clone(), placeholder)});
        self.push("output_item.added", added);
        let at = |extra: Value| {
            let position = json!({"item_id": str_at(item, "id"), "output_index": index});
            merged(position, extra)
        };
        match kind {
            "reasoning" => {
                let summary = |extra: Value| at(merged(json!({"summary_index": 0}), extra));
                let part = |text: &str| json!({"type": "summary_text", "text": text});
                self.push(
                    "reasoning_summary_part.added",
                    summary(json!({"part": part("")})),
                );
                for piece in split_in(REASONING_TEXT, 2) {
                    let delta = summary(json!({"delta": piece}));
                    self.push("reasoning_summary_text.delta", delta);
                }
                let done = summary(json!({"text": REASONING_TEXT}));
                self.push("reasoning_summary_text.done", done);
                let done = summary(json!({"part": part(REASONING_TEXT)}));
                self.push("reasoning_summary_part.done", done);
            }
            "message" => {
                let content = |extra: Value| at(merged(json!({"content_index": 0}), extra));
                let part = item.pointer("/content/0").cloned().unwrap_or(Value::Null);
                let text = str_at(&part, "text").to_owned();
                let empty_part = json!({"type": "output_text", "text": "", "annotations": []});
                self.push("content_part.added", content(json!({"part": empty_part})));
                for piece in split_in(&text, 3) {
                    self.push("output_text.delta", content(json!({"delta": piece})));
                }
                self.push("output_text.done", content(json!({"text": text})));
                self.push("content_part.done", content(json!({"part": part})));
            }
            "image_generation_call" => {}
            _ => {
                let arguments = item.get("arguments").cloned().unwrap_or(Value::Null);
                let delta = at(json!({"delta": arguments}));
                self.push("function_call_arguments.delta", delta);
                let done = at(json!({"arguments": arguments}));
                self.push("function_call_arguments.done", done);
            }
        }
        let done = json!({"output_index": index, "item": item});
        self.push("output_item.done", done);
    }
}
