//! The Agent Client Protocol (JSON-RPC 2.0 over stdio), spoken by
//! `gemini --acp`, `cursor-agent acp` and any ACP agent: `initialize`
//! (and `authenticate` when the template names a method), a `session/new`
//! per conversation, a `session/prompt` per turn whose `session/update`
//! notifications stream the answer and whose response ends it;
//! `session/cancel` stops it.

use base64::Engine as _;
use serde_json::{Value, json};

use super::agent::{Agent, Ending, Input, Step, count, usage_events};
use super::wire::{Incoming, error_text};
use crate::backend::session::Approvals;
use crate::error::Error;
use crate::event::{Event, FinishReason, Usage};

/// Where one turn stands.
#[derive(Debug)]
pub(super) struct Turn {
    session: String,
    /// The id of our `session/prompt`, whose answer ends the turn.
    prompt: String,
}

/// `initialize` (no file system or terminal offered), then `authenticate`
/// if the template names a method.
pub(super) async fn handshake(agent: &mut Agent) -> Result<(), Error> {
    agent
        .call(
            "initialize",
            json!({
                "protocolVersion": 1,
                "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
            }),
        )
        .await?;
    if let Some(method) = agent.template.auth_method.clone() {
        agent
            .call("authenticate", json!({"methodId": method}))
            .await?;
    }
    Ok(())
}

/// `session/new` in a directory of its own.
pub(super) async fn open(agent: &mut Agent) -> Result<Option<String>, Error> {
    let cwd = agent.conversation_cwd()?;
    let opened = agent
        .call("session/new", json!({"cwd": cwd, "mcpServers": []}))
        .await?;
    let session = opened["sessionId"]
        .as_str()
        .ok_or_else(|| agent.error("`session/new` answered without a sessionId".into()))?;
    Ok(Some(session.to_owned()))
}

/// `session/prompt` with the text and the images; its answer comes last.
pub(super) async fn start(agent: &mut Agent, input: &Input) -> Result<Turn, Error> {
    let session = agent
        .conversation
        .clone()
        .ok_or_else(|| Error::Internal("an ACP turn without a session".into()))?;
    let mut prompt = vec![json!({"type": "text", "text": input.text})];
    for (media_type, data) in &input.images {
        prompt.push(json!({
            "type": "image",
            "mimeType": media_type,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
        }));
    }
    let id = agent
        .wire
        .request(
            "session/prompt",
            json!({"sessionId": session, "prompt": prompt}),
        )
        .await
        .map_err(|e| agent.wire_error(&e))?;
    Ok(Turn {
        session,
        prompt: id,
    })
}

/// `session/cancel`: the prompt then ends with `stopReason: "cancelled"`.
pub(super) async fn interrupt(agent: &mut Agent, turn: &Turn) -> Result<(), Error> {
    agent
        .wire
        .notify("session/cancel", Some(json!({"sessionId": turn.session})))
        .await
        .map_err(|e| agent.wire_error(&e))
}

/// What one message means for the turn: message and thought chunks of our
/// session, and the answer to our prompt.
pub(super) fn step(turn: &mut Turn, message: Incoming) -> Option<Step> {
    match message {
        Incoming::Notification(message) => {
            let params = &message["params"];
            if message["method"] != "session/update" || params["sessionId"] != turn.session.as_str()
            {
                return None;
            }
            let update = &params["update"];
            let text = update["content"]["text"].as_str().map(str::to_owned);
            match update["sessionUpdate"].as_str()? {
                "agent_message_chunk" => Some(Step::Events(vec![Event::TextDelta(text?)])),
                "agent_thought_chunk" => Some(Step::Events(vec![Event::ReasoningDelta(text?)])),
                _ => None,
            }
        }
        Incoming::Response { id, result } if id == turn.prompt => Some(match result {
            Ok(done) => answered(&done),
            Err(error) => Step::End(Vec::new(), Ending::Failed(error_text(&error), None)),
        }),
        Incoming::Response { .. } | Incoming::Request { .. } => None,
    }
}

/// The prompt's answer: why it stopped, and usage (`usage`, or Gemini
/// CLI's `_meta.quota.token_count`).
fn answered(done: &Value) -> Step {
    let usage = if done["usage"].is_object() {
        let usage = &done["usage"];
        Usage {
            input_tokens: count(usage, "/inputTokens"),
            output_tokens: count(usage, "/outputTokens"),
            cache_read_tokens: count(usage, "/cachedReadTokens"),
            cache_write_tokens: count(usage, "/cachedWriteTokens"),
            reasoning_tokens: count(usage, "/thoughtTokens"),
        }
    } else {
        let tokens = &done["_meta"]["quota"]["token_count"];
        Usage {
            input_tokens: count(tokens, "/input_tokens"),
            output_tokens: count(tokens, "/output_tokens"),
            ..Usage::default()
        }
    };
    let events = usage_events(usage);
    let ending = match done["stopReason"].as_str() {
        Some("end_turn") => Ending::Finished(FinishReason::Stop),
        Some("max_tokens" | "max_turn_requests") => Ending::Finished(FinishReason::Length),
        Some("refusal") => Ending::Finished(FinishReason::ContentFilter),
        Some("cancelled") => Ending::Interrupted,
        other => Ending::Failed(format!("the agent stopped with {other:?}"), None),
    };
    Step::End(events, ending)
}

/// `session/request_permission`: the option of the policy's kind (allow or
/// reject once), or cancelled when there is none; the file system and
/// terminal were not offered, so their requests are refused.
pub(super) fn permission(
    method: &str,
    params: &Value,
    approvals: Approvals,
) -> Result<Value, String> {
    if method != "session/request_permission" {
        return Err(format!("`{method}` is not supported by agent-cli-to-api"));
    }
    let wanted = match approvals {
        Approvals::Allow => ["allow_once", "allow_always"],
        Approvals::Deny => ["reject_once", "reject_always"],
    };
    let options = params["options"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let chosen = wanted.iter().find_map(|kind| {
        options
            .iter()
            .find(|o| o["kind"] == *kind)
            .and_then(|o| o["optionId"].as_str())
    });
    Ok(match chosen {
        Some(option) => json!({"outcome": {"outcome": "selected", "optionId": option}}),
        None => json!({"outcome": {"outcome": "cancelled"}}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_our_session_and_the_prompt_answer_make_the_turn() {
        let mut turn = Turn {
            session: "s1".into(),
            prompt: "4".into(),
        };
        let chunk = |session: &str, kind: &str| {
            Incoming::Notification(
                json!({"method": "session/update", "params": {"sessionId": session, "update": {"sessionUpdate": kind, "content": {"type": "text", "text": "x"}}}}),
            )
        };
        assert!(
            matches!(step(&mut turn, chunk("s1", "agent_message_chunk")), Some(Step::Events(e)) if e == [Event::TextDelta("x".into())])
        );
        assert!(
            matches!(step(&mut turn, chunk("s1", "agent_thought_chunk")), Some(Step::Events(e)) if e == [Event::ReasoningDelta("x".into())])
        );
        assert!(step(&mut turn, chunk("s2", "agent_message_chunk")).is_none());
        let done = Incoming::Response {
            id: "4".into(),
            result: Ok(
                json!({"stopReason": "end_turn", "_meta": {"quota": {"token_count": {"input_tokens": 12, "output_tokens": 5}}}}),
            ),
        };
        let Some(Step::End(events, Ending::Finished(FinishReason::Stop))) = step(&mut turn, done)
        else {
            panic!()
        };
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn permissions_follow_the_policy() {
        let params = json!({"options": [
            {"optionId": "yes", "kind": "allow_once"},
            {"optionId": "no", "kind": "reject_once"},
        ]});
        let pick =
            |approvals| permission("session/request_permission", &params, approvals).unwrap();
        assert_eq!(pick(Approvals::Deny)["outcome"]["optionId"], "no");
        assert_eq!(pick(Approvals::Allow)["outcome"]["optionId"], "yes");
        assert!(permission("fs/read_text_file", &params, Approvals::Allow).is_err());
    }
}
