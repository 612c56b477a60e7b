//! The Gemini dialect (Gemini CLI): `POST .../models/<m>:generateContent` and
//! `:streamGenerateContent` (CRLF-framed data lines). The shell tool is `run_shell_command`;
//! reasoning is a `thought` part, signed (`thoughtSignature`) on the first part of the answer. Helper calls that ask for `application/json` get dummy JSON
//! matching their schema.
//!
//! It only translates between this wire shape and a [`Decision`]: it must not decide anything
//! itself (beyond shaping helper-call JSON), nor handle errors, markers or pacing (the router
//! and [`super::stream`] do).

use serde_json::{Value, json};

use super::decide::{
    Decision, Reply, Transcript, described_shell_tool, list, merged, new_id, split_in, str_at,
};
use super::stream::{Answer, SseFrame};
use super::{GEMINI_SIGNATURE, REASONING_TEXT};

/// The answer to `body`; `enveloped` wraps each chunk as Code Assist does
/// (`{"response": …, "traceId": …}`).
pub(super) fn answer(body: &Value, stream: bool, enveloped: bool) -> Answer {
    let mut transcript = Transcript::default();
    for content in list(body, "contents") {
        let from_user = str_at(content, "role") == "user";
        for part in list(content, "parts") {
            if let Some(call_result) = part.get("functionResponse") {
                let response = call_result.get("response").unwrap_or(&Value::Null);
                transcript.saw_tool_output(response.to_string());
            } else if from_user {
                transcript.saw_user_text(str_at(part, "text"));
            }
        }
    }
    let declarations = list(body, "tools")
        .iter()
        .flat_map(|t| list(t, "functionDeclarations"));
    let offers_shell = declarations
        .into_iter()
        .any(|d| str_at(d, "name") == "run_shell_command");
    let mut decision = transcript.decide(described_shell_tool("run_shell_command", offers_shell));

    let config = body.get("generationConfig").unwrap_or(&Value::Null);
    if str_at(config, "responseMimeType") == "application/json" && !decision.is_tool() {
        // Helper calls (model router, next-speaker check, loop detection) want schema JSON.
        let answer = json_answer(config).to_string();
        decision = Decision {
            reply: Reply::Text(answer),
            think: false,
        };
    }
    let mut usage =
        json!({"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17});
    if decision.think {
        usage = merged(usage, json!({"thoughtsTokenCount": 2}));
    }
    let thought = json!({"text": REASONING_TEXT, "thought": true});
    let answer_parts: Vec<(Value, bool)> = match &decision.reply {
        Reply::Text(text) if stream => split_in(text, 3)
            .into_iter()
            .map(|piece| (json!({"text": piece}), true))
            .collect(),
        Reply::Text(text) => vec![(json!({"text": text}), true)],
        Reply::Tool { name, args } => {
            vec![(json!({"functionCall": {"name": name, "args": args}}), false)]
        }
    };
    let mut parts: Vec<(Value, bool)> = decision
        .think
        .then_some((thought, false))
        .into_iter()
        .collect();
    let mut answer_parts = answer_parts;
    if decision.think
        && let Some((first, _)) = answer_parts.first_mut()
    {
        // Gemini 3 signs its reasoning on the first part of the answer.
        *first = merged(first.clone(), json!({"thoughtSignature": GEMINI_SIGNATURE}));
    }
    parts.extend(answer_parts);

    let response_id = new_id("", 16);
    let chunk = |parts: Vec<Value>, last: bool| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut chunk = json!({"modelVersion": "fake-gemini", "responseId": response_id});
        if last {
            candidate = merged(candidate, json!({"finishReason": "STOP"}));
            chunk = merged(chunk, json!({"usageMetadata": usage}));
        }
        let chunk = merged(chunk, json!({"candidates": [candidate]}));
        if enveloped {
            json!({"response": chunk, "traceId": response_id})
        } else {
            chunk
        }
    };
    if !stream {
        return Answer::Json(chunk(
            parts.into_iter().map(|(part, _)| part).collect(),
            true,
        ));
    }
    let last = parts.len().saturating_sub(1);
    let frames = parts
        .into_iter()
        .enumerate()
        .map(|(index, (part, is_text))| {
            SseFrame::data_crlf(&chunk(vec![part], index == last)).text_delta_if(is_text)
        });
    Answer::Sse(frames.collect())
}

/// Dummy JSON matching a helper call's schema. Numbers use the schema minimum (or 1), so the
/// router's `complexity_score` (1..100) validates.
fn json_answer(config: &Value) -> Value {
    let schema = config
        .get("responseJsonSchema")
        .or_else(|| config.get("responseSchema"));
    let properties = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let answer = properties.into_iter().flatten().map(|(key, property)| {
        let kind = property
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = match (
            list(property, "enum").first(),
            kind.to_ascii_lowercase().as_str(),
        ) {
            (Some(first), _) => first.clone(),
            (None, "boolean") => json!(false),
            (None, "number" | "integer") => property.get("minimum").cloned().unwrap_or(json!(1)),
            (None, "array") => json!([]),
            (None, "object") => json!({}),
            _ if key == "next_speaker" => json!("user"),
            _ => json!("fake"),
        };
        (key.clone(), value)
    });
    Value::Object(answer.collect())
}
