//! One JSON message per line over a warm process's stdin and stdout, in
//! the two framings the protocols use: JSON-RPC (Codex's app-server leaves
//! out the `jsonrpc` field, ACP has it) and Claude Code's control
//! messages (`control_request` / `control_response` beside its events).
//! Every line read is classified as a response to one of ours, a request
//! from the agent, or a notification.

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::{ChildStdin, ChildStdout};

use futures_util::StreamExt as _;

use crate::backend::session::Protocol;
use crate::engine::output::{self, ByteLines, Line};

/// A message from the agent.
#[derive(Debug)]
pub(super) enum Incoming {
    /// The answer to our request `id`: its result, or its error.
    Response {
        id: String,
        result: Result<Value, Value>,
    },
    /// The agent asks us something (a permission) and waits for the answer.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// Anything else: notifications, Claude's events.
    Notification(Value),
}

/// Why the wire stopped.
#[derive(Debug)]
pub(super) enum WireError {
    /// The process closed its stdout (it exited).
    Closed,
    /// A line longer than the template's `max_line_bytes`.
    TooLong,
    /// Reading or writing failed.
    Io(std::io::Error),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Closed => f.write_str("it closed its output (the process ended)"),
            WireError::TooLong => f.write_str("an output line exceeded max_line_bytes"),
            WireError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The pipes of one warm process.
pub(super) struct Wire {
    protocol: Protocol,
    stdin: ChildStdin,
    lines: ByteLines<ChildStdout>,
    next_id: u64,
    /// A write was started and not finished (its future was dropped): the
    /// process may hold half a line, so it is out of step for good.
    cut: bool,
    /// Bytes of the last line read.
    last_len: usize,
}

impl Wire {
    pub(super) fn new(
        protocol: Protocol,
        stdin: ChildStdin,
        stdout: ChildStdout,
        max_line: usize,
    ) -> Wire {
        Wire {
            protocol,
            stdin,
            lines: output::byte_lines(stdout, max_line),
            next_id: 0,
            cut: false,
            last_len: 0,
        }
    }

    /// Writes one message.
    pub(super) async fn send(&mut self, message: &Value) -> Result<(), WireError> {
        let mut line = serde_json::to_vec(message).map_err(|e| WireError::Io(e.into()))?;
        line.push(b'\n');
        self.cut = true;
        self.stdin.write_all(&line).await.map_err(WireError::Io)?;
        self.stdin.flush().await.map_err(WireError::Io)?;
        self.cut = false;
        Ok(())
    }

    /// Whether a write was cut short (see [`Wire::send`]).
    pub(super) fn cut(&self) -> bool {
        self.cut
    }

    /// Bytes of the last line read.
    pub(super) fn last_len(&self) -> usize {
        self.last_len
    }

    /// Sends request `method` and returns its id (answered later by an
    /// [`Incoming::Response`] with that id).
    pub(super) async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<String, WireError> {
        self.next_id += 1;
        let id = self.next_id;
        let message = match self.protocol {
            Protocol::ClaudeStreamJson => {
                let mut request = json!({ "subtype": method });
                if let (Some(request), Value::Object(params)) = (request.as_object_mut(), params) {
                    request.extend(params);
                }
                json!({"type": "control_request", "request_id": format!("gw-{id}"), "request": request})
            }
            Protocol::CodexAppServer => json!({"id": id, "method": method, "params": params}),
            Protocol::Acp => {
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            }
        };
        self.send(&message).await?;
        Ok(match self.protocol {
            Protocol::ClaudeStreamJson => format!("gw-{id}"),
            Protocol::CodexAppServer | Protocol::Acp => id.to_string(),
        })
    }

    /// Sends notification `method` (JSON-RPC protocols).
    pub(super) async fn notify(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), WireError> {
        let mut message = json!({ "method": method });
        if let Some(params) = params {
            message["params"] = params;
        }
        if self.protocol == Protocol::Acp {
            message["jsonrpc"] = json!("2.0");
        }
        self.send(&message).await
    }

    /// Answers the agent's request `id`: `Ok` with a result, `Err` with a
    /// message for an error answer.
    pub(super) async fn answer(
        &mut self,
        id: Value,
        answer: Result<Value, String>,
    ) -> Result<(), WireError> {
        let message = match (self.protocol, answer) {
            (Protocol::ClaudeStreamJson, Ok(result)) => json!({
                "type": "control_response",
                "response": {"subtype": "success", "request_id": id, "response": result},
            }),
            (Protocol::ClaudeStreamJson, Err(error)) => json!({
                "type": "control_response",
                "response": {"subtype": "error", "request_id": id, "error": error},
            }),
            (_, Ok(result)) => json!({"id": id, "result": result}),
            (_, Err(error)) => json!({"id": id, "error": {"code": -32601, "message": error}}),
        };
        let mut message = message;
        if self.protocol == Protocol::Acp {
            message["jsonrpc"] = json!("2.0");
        }
        self.send(&message).await
    }

    /// The next message. Lines that are not JSON objects (a stray log
    /// line) are skipped.
    pub(super) async fn next(&mut self) -> Result<Incoming, WireError> {
        loop {
            let line = match self.lines.next().await {
                None => return Err(WireError::Closed),
                Some(Err(e)) => return Err(WireError::Io(e)),
                Some(Ok(Line::TooLong)) => return Err(WireError::TooLong),
                Some(Ok(Line::Bytes(bytes))) => bytes,
            };
            self.last_len = line.len();
            match serde_json::from_slice::<Value>(&line) {
                Ok(message @ Value::Object(_)) => return Ok(classify(self.protocol, message)),
                // Its text is not logged: it may hold what must be redacted.
                _ => tracing::debug!(
                    bytes = line.len(),
                    "a warm process printed a line that is no JSON object"
                ),
            }
        }
    }
}

/// What kind of message `message` is, in `protocol`'s framing.
pub(super) fn classify(protocol: Protocol, mut message: Value) -> Incoming {
    if protocol == Protocol::ClaudeStreamJson {
        return match message["type"].as_str() {
            Some("control_response") => {
                let response = message["response"].take();
                Incoming::Response {
                    id: id_text(&response["request_id"]),
                    result: if response["subtype"] == "success" {
                        Ok(response["response"].clone())
                    } else {
                        Err(response["error"].clone())
                    },
                }
            }
            Some("control_request") => {
                let request = message["request"].take();
                Incoming::Request {
                    id: message["request_id"].take(),
                    method: request["subtype"].as_str().unwrap_or_default().to_owned(),
                    params: request,
                }
            }
            _ => Incoming::Notification(message),
        };
    }
    let method = message["method"].as_str().map(str::to_owned);
    match (
        message.get("id").filter(|id| !id.is_null()).cloned(),
        method,
    ) {
        (Some(id), Some(method)) => Incoming::Request {
            id,
            method,
            params: message["params"].take(),
        },
        (Some(id), None) => Incoming::Response {
            id: id_text(&id),
            result: match message.get_mut("error").map(Value::take) {
                Some(error) if !error.is_null() => Err(error),
                _ => Ok(message["result"].take()),
            },
        },
        (None, _) => Incoming::Notification(message),
    }
}

/// An id as text: `7` and `"7"` are the same request.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The message of a JSON-RPC or control error.
pub(super) fn error_text(error: &Value) -> String {
    error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .map_or_else(|| error.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonrpc_messages_are_classified() {
        let rpc = Protocol::Acp;
        assert!(matches!(
            classify(rpc, json!({"jsonrpc": "2.0", "id": 3, "result": {"a": 1}})),
            Incoming::Response { id, result: Ok(_) } if id == "3"
        ));
        assert!(matches!(
            classify(rpc, json!({"id": 3, "error": {"message": "no"}})),
            Incoming::Response { result: Err(_), .. }
        ));
        assert!(matches!(
            classify(rpc, json!({"id": 9, "method": "session/request_permission", "params": {}})),
            Incoming::Request { method, .. } if method == "session/request_permission"
        ));
        assert!(matches!(
            classify(rpc, json!({"method": "session/update", "params": {}})),
            Incoming::Notification(_)
        ));
    }

    #[test]
    fn claude_control_messages_are_classified() {
        let claude = Protocol::ClaudeStreamJson;
        assert!(matches!(
            classify(claude, json!({"type": "control_response", "response": {"subtype": "success", "request_id": "gw-1", "response": {}}})),
            Incoming::Response { id, result: Ok(_) } if id == "gw-1"
        ));
        assert!(matches!(
            classify(claude, json!({"type": "control_request", "request_id": "x", "request": {"subtype": "can_use_tool"}})),
            Incoming::Request { method, .. } if method == "can_use_tool"
        ));
        assert!(matches!(
            classify(claude, json!({"type": "result", "id": 4})),
            Incoming::Notification(_)
        ));
    }
}
