//! Claude Code kept running with `--input-format stream-json`: a user line
//! per turn, answered by its usual `stream-json` events up to `result`;
//! control requests (`initialize`, `interrupt`) on the same pipes. A new
//! conversation on a used process starts with `/clear`, which Claude Code
//! answers with a new session and an empty `result`.

use base64::Engine as _;
use serde_json::{Value, json};

use super::agent::{Agent, Ending, Input, Step, count, usage_events};
use super::wire::Incoming;
use crate::backend::session::Approvals;
use crate::error::Error;
use crate::event::{Event, FinishReason, Usage};

/// Where one turn stands.
#[derive(Debug, Default)]
pub(super) struct Turn {
    /// Answer text was given (the next text block is set apart).
    text_seen: bool,
}

/// `initialize`: the process is ready once it answers.
pub(super) async fn handshake(agent: &mut Agent) -> Result<(), Error> {
    agent.call("initialize", json!({})).await.map(drop)
}

/// Clears the conversation of a used process (`/clear`) and reads its
/// empty `result`. Returns the new session id.
pub(super) async fn open(agent: &mut Agent) -> Result<Option<String>, Error> {
    let mut session = None;
    if agent.dirty() {
        send_user(agent, json!("/clear")).await?;
        loop {
            if let Incoming::Notification(message) = agent.read().await?
                && message["type"] == "result"
            {
                session = message["session_id"].as_str().map(str::to_owned);
                break;
            }
        }
    }
    Ok(session)
}

/// Sends the turn's user message: text, then images as base64 blocks; the
/// model is switched first (`set_model`) when the turn asks for another.
pub(super) async fn start(agent: &mut Agent, input: &Input) -> Result<Turn, Error> {
    if !input.model.is_empty() && input.model != agent.model {
        agent
            .call("set_model", json!({"model": input.model}))
            .await?;
        tracing::debug!(backend = %agent.backend, from = %agent.model, to = %input.model, "model switched");
        agent.model.clone_from(&input.model);
    }
    let mut content = vec![json!({"type": "text", "text": input.text})];
    for (media_type, data) in &input.images {
        content.push(json!({
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": media_type,
                "data": base64::engine::general_purpose::STANDARD.encode(data),
            },
        }));
    }
    send_user(agent, Value::Array(content)).await?;
    Ok(Turn::default())
}

async fn send_user(agent: &mut Agent, content: Value) -> Result<(), Error> {
    let line = json!({"type": "user", "message": {"role": "user", "content": content}});
    agent
        .wire
        .send(&line)
        .await
        .map_err(|e| agent.wire_error(&e))
}

/// `interrupt`: the turn then ends with an `error_during_execution` result.
pub(super) async fn interrupt(agent: &mut Agent) -> Result<(), Error> {
    agent.send_request("interrupt", json!({})).await
}

/// What one message means for the turn: text and thinking deltas of the
/// top-level agent (a subagent's have a `parent_tool_use_id`), and the
/// `result` that ends it with usage, or with the API error it reports.
pub(super) fn step(turn: &mut Turn, message: Incoming) -> Option<Step> {
    let Incoming::Notification(message) = message else {
        return None; // an answer to our interrupt
    };
    match message["type"].as_str()? {
        "stream_event" if message["parent_tool_use_id"].is_null() => {
            let event = &message["event"];
            match (event["type"].as_str()?, event["delta"]["type"].as_str()) {
                ("content_block_start", _) if event["content_block"]["type"] == "text" => {
                    let separate = std::mem::replace(&mut turn.text_seen, true);
                    separate.then(|| Step::Events(vec![Event::TextDelta("\n\n".into())]))
                }
                ("content_block_delta", Some("text_delta")) => {
                    Some(Step::Events(vec![Event::TextDelta(
                        event["delta"]["text"].as_str()?.to_owned(),
                    )]))
                }
                ("content_block_delta", Some("thinking_delta")) => {
                    Some(Step::Events(vec![Event::ReasoningDelta(
                        event["delta"]["thinking"].as_str()?.to_owned(),
                    )]))
                }
                _ => None,
            }
        }
        "result" => {
            tracing::debug!(
                duration_ms = %message["duration_ms"],
                duration_api_ms = %message["duration_api_ms"],
                "claude result"
            );
            Some(result(&message))
        }
        _ => None,
    }
}

/// The end of a turn.
fn result(message: &Value) -> Step {
    let usage = &message["usage"];
    let cache_read = count(usage, "/cache_read_input_tokens");
    let cache_write = count(usage, "/cache_creation_input_tokens");
    let input = count(usage, "/input_tokens")
        .map(|n| n + cache_read.unwrap_or(0) + cache_write.unwrap_or(0));
    let usage = Usage {
        input_tokens: input,
        output_tokens: count(usage, "/output_tokens"),
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: None,
    };
    let events = usage_events(usage);
    let ending = if message["is_error"] == true {
        if message["subtype"] == "error_during_execution" {
            Ending::Interrupted
        } else {
            let text = message["result"]
                .as_str()
                .or_else(|| message["errors"][0].as_str())
                .unwrap_or("Claude Code reported an error");
            let status = message["api_error_status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok());
            Ending::Failed(text.to_owned(), status)
        }
    } else {
        Ending::Finished(FinishReason::Stop)
    };
    Step::End(events, ending)
}

/// `can_use_tool` (with `--permission-prompt-tool stdio`): allowed as asked,
/// or denied.
pub(super) fn permission(
    method: &str,
    params: &Value,
    approvals: Approvals,
) -> Result<Value, String> {
    match (method, approvals) {
        ("can_use_tool", Approvals::Allow) => {
            Ok(json!({"behavior": "allow", "updatedInput": params["input"]}))
        }
        ("can_use_tool", Approvals::Deny) => Ok(json!({
            "behavior": "deny",
            "message": "the gateway's policy refuses tool permissions (approvals = \"deny\")",
        })),
        (other, _) => Err(format!("`{other}` is not supported by agent-cli-to-api")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(value: Value) -> Incoming {
        Incoming::Notification(value)
    }

    #[test]
    fn deltas_of_the_top_agent_and_the_result_make_the_turn() {
        let mut turn = Turn::default();
        let start = json!({"type": "stream_event", "parent_tool_use_id": null, "event": {"type": "content_block_start", "content_block": {"type": "text"}}});
        assert!(step(&mut turn, note(start.clone())).is_none());
        let delta = json!({"type": "stream_event", "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}});
        assert!(
            matches!(step(&mut turn, note(delta)), Some(Step::Events(e)) if e == [Event::TextDelta("hi".into())])
        );
        assert!(
            matches!(step(&mut turn, note(start)), Some(Step::Events(e)) if e == [Event::TextDelta("\n\n".into())])
        );
        let sub = json!({"type": "stream_event", "parent_tool_use_id": "t1", "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "sub"}}});
        assert!(step(&mut turn, note(sub)).is_none());
        let done = json!({"type": "result", "is_error": false, "usage": {"input_tokens": 3, "cache_read_input_tokens": 10, "output_tokens": 5}});
        let Some(Step::End(events, Ending::Finished(FinishReason::Stop))) =
            step(&mut turn, note(done))
        else {
            panic!("the result ends the turn");
        };
        assert_eq!(
            events,
            [Event::Usage(Usage {
                input_tokens: Some(13),
                output_tokens: Some(5),
                cache_read_tokens: Some(10),
                ..Usage::default()
            })]
        );
    }

    #[test]
    fn an_api_error_result_fails_with_its_status() {
        let failed = json!({"type": "result", "subtype": "success", "is_error": true, "result": "API Error: 400 bad", "api_error_status": 400});
        let Some(Step::End(_, ending)) = step(&mut Turn::default(), note(failed)) else {
            panic!()
        };
        assert_eq!(
            ending,
            Ending::Failed("API Error: 400 bad".into(), Some(400))
        );
    }
}
