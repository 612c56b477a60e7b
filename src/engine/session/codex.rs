//! `codex app-server` (JSON-RPC over stdio, no `jsonrpc` field):
//! `initialize` + `initialized`, a `thread/start` per conversation (its
//! instructions, sandbox and model), a `turn/start` per turn, whose
//! notifications stream the answer token by token until `turn/completed`;
//! `turn/interrupt` stops it.

use base64::Engine as _;
use serde_json::{Value, json};

use super::agent::{Agent, Ending, Input, Opening, Step, count};
use super::wire::Incoming;
use crate::backend::session::Approvals;
use crate::error::Error;
use crate::event::{Event, FinishReason, Usage};

/// Where one turn stands.
#[derive(Debug)]
pub(super) struct Turn {
    thread: String,
    id: String,
    /// The agent message whose deltas came last (a new one is set apart).
    item: Option<String>,
    /// The last error notice, for a failed turn without its own message.
    error: Option<String>,
}

/// `initialize`, then the `initialized` notification.
pub(super) async fn handshake(agent: &mut Agent) -> Result<(), Error> {
    agent
        .call(
            "initialize",
            json!({"clientInfo": {"name": "agent-cli-to-api", "version": env!("CARGO_PKG_VERSION")}}),
        )
        .await?;
    agent
        .wire
        .notify("initialized", None)
        .await
        .map_err(|e| agent.wire_error(&e))
}

/// `thread/start`: a new, ephemeral thread in a directory of its own.
pub(super) async fn open(agent: &mut Agent, opening: &Opening) -> Result<Option<String>, Error> {
    // The route's `vars.sandbox` over the template's.
    let sandbox = agent
        .key
        .vars
        .get("sandbox")
        .or_else(|| agent.template.process.vars.get("sandbox"))
        .cloned()
        .unwrap_or_else(|| "read-only".to_owned());
    let cwd = agent.conversation_cwd()?;
    let mut params = json!({
        "cwd": cwd,
        // Asked only when the policy may grant: with "deny", the sandbox decides.
        "approvalPolicy": match agent.template.approvals {
            Approvals::Deny => "never",
            Approvals::Allow => "on-request",
        },
        "sandbox": sandbox,
        "ephemeral": true,
    });
    if !opening.model.is_empty() {
        params["model"] = json!(opening.model);
    }
    if let Some(system) = &opening.system {
        params["developerInstructions"] = json!(system);
    }
    let started = agent.call("thread/start", params).await?;
    let thread = started["thread"]["id"]
        .as_str()
        .ok_or_else(|| agent.error("`thread/start` answered without a thread id".into()))?;
    Ok(Some(thread.to_owned()))
}

/// `turn/start` on the conversation's thread.
pub(super) async fn start(agent: &mut Agent, input: &Input) -> Result<Turn, Error> {
    let thread = agent
        .conversation
        .clone()
        .ok_or_else(|| Error::Internal("a Codex turn without a thread".into()))?;
    let mut items = vec![json!({"type": "text", "text": input.text, "text_elements": []})];
    for (media_type, data) in &input.images {
        let data = base64::engine::general_purpose::STANDARD.encode(data);
        items.push(json!({"type": "image", "url": format!("data:{media_type};base64,{data}")}));
    }
    let mut params = json!({"threadId": thread, "input": items});
    if !input.model.is_empty() {
        params["model"] = json!(input.model);
    }
    if let Some(effort) = input.effort {
        params["effort"] = json!(effort.as_str());
    }
    let started = agent.call("turn/start", params).await?;
    let id = started["turn"]["id"]
        .as_str()
        .ok_or_else(|| agent.error("`turn/start` answered without a turn id".into()))?;
    Ok(Turn {
        thread,
        id: id.to_owned(),
        item: None,
        error: None,
    })
}

/// `turn/interrupt`: the turn then completes as `interrupted`.
pub(super) async fn interrupt(agent: &mut Agent, turn: &Turn) -> Result<(), Error> {
    let params = json!({"threadId": turn.thread, "turnId": turn.id});
    agent.send_request("turn/interrupt", params).await
}

/// What one notification means for the turn.
pub(super) fn step(turn: &mut Turn, message: Incoming) -> Option<Step> {
    let Incoming::Notification(message) = message else {
        return None; // an answer to our interrupt
    };
    let params = &message["params"];
    let ours = |field: &str| params[field].as_str().is_none_or(|id| id == turn.id);
    match message["method"].as_str()? {
        "item/agentMessage/delta" if ours("turnId") => {
            let delta = params["delta"].as_str()?.to_owned();
            let item = params["itemId"].as_str().map(str::to_owned);
            let mut events = Vec::new();
            if turn.item.is_some() && item != turn.item {
                events.push(Event::TextDelta("\n\n".into()));
            }
            turn.item = item;
            events.push(Event::TextDelta(delta));
            Some(Step::Events(events))
        }
        "item/reasoning/summaryTextDelta" | "item/reasoning/textDelta" if ours("turnId") => {
            Some(Step::Events(vec![Event::ReasoningDelta(
                params["delta"].as_str()?.to_owned(),
            )]))
        }
        "thread/tokenUsage/updated" if ours("turnId") => {
            let last = &params["tokenUsage"]["last"];
            Some(Step::Events(vec![Event::Usage(Usage {
                input_tokens: count(last, "/inputTokens"),
                output_tokens: count(last, "/outputTokens"),
                cache_read_tokens: count(last, "/cachedInputTokens"),
                cache_write_tokens: count(last, "/cacheWriteInputTokens"),
                reasoning_tokens: count(last, "/reasoningOutputTokens"),
            })]))
        }
        "error" if params["willRetry"] != true => {
            turn.error = params["error"]["message"].as_str().map(str::to_owned);
            None
        }
        "turn/completed" if params["turn"]["id"] == turn.id.as_str() => {
            let done = &params["turn"];
            let ending = match done["status"].as_str() {
                Some("completed") => Ending::Finished(FinishReason::Stop),
                Some("interrupted") => Ending::Interrupted,
                _ => {
                    let message = done["error"]["message"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| turn.error.take())
                        .unwrap_or_else(|| format!("the turn ended as {}", done["status"]));
                    let status = crate::error::status_in_message(&message);
                    Ending::Failed(message, status)
                }
            };
            Some(Step::End(Vec::new(), ending))
        }
        _ => None,
    }
}

/// Approval requests: granted once, or declined.
pub(super) fn permission(
    method: &str,
    _params: &Value,
    approvals: Approvals,
) -> Result<Value, String> {
    let allow = approvals == Approvals::Allow;
    match method {
        "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => {
            Ok(json!({"decision": if allow { "accept" } else { "decline" }}))
        }
        "execCommandApproval" | "applyPatchApproval" => {
            Ok(json!({"decision": if allow { "approved" } else { "denied" }}))
        }
        other => Err(format!("`{other}` is not supported by agent-cli-to-api")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn() -> Turn {
        Turn {
            thread: "th".into(),
            id: "t1".into(),
            item: None,
            error: None,
        }
    }

    fn note(method: &str, params: Value) -> Incoming {
        Incoming::Notification(json!({"method": method, "params": params}))
    }

    #[test]
    fn deltas_usage_and_completion_of_our_turn() {
        let mut turn = turn();
        let delta = |item: &str, text: &str| {
            note(
                "item/agentMessage/delta",
                json!({"turnId": "t1", "itemId": item, "delta": text}),
            )
        };
        assert!(
            matches!(step(&mut turn, delta("a", "he")), Some(Step::Events(e)) if e == [Event::TextDelta("he".into())])
        );
        assert!(matches!(step(&mut turn, delta("b", "x")), Some(Step::Events(e)) if e.len() == 2));
        let other = note(
            "item/agentMessage/delta",
            json!({"turnId": "t0", "itemId": "a", "delta": "old"}),
        );
        assert!(
            step(&mut turn, other).is_none(),
            "another turn's deltas are not ours"
        );
        let done = note(
            "turn/completed",
            json!({"turn": {"id": "t1", "status": "completed"}}),
        );
        assert!(matches!(
            step(&mut turn, done),
            Some(Step::End(_, Ending::Finished(FinishReason::Stop)))
        ));
    }

    #[test]
    fn a_failed_turn_keeps_the_error_notice() {
        let mut turn = turn();
        assert!(
            step(
                &mut turn,
                note(
                    "error",
                    json!({"error": {"message": "boom 400"}, "willRetry": false})
                )
            )
            .is_none()
        );
        let done = note(
            "turn/completed",
            json!({"turn": {"id": "t1", "status": "failed", "error": null}}),
        );
        let Some(Step::End(_, Ending::Failed(message, _))) = step(&mut turn, done) else {
            panic!()
        };
        assert_eq!(message, "boom 400");
    }
}
