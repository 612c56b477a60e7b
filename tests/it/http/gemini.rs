//! An `http` backend speaking the Gemini API, in front of the mock
//! upstream: the exact request it gets (the model and action in the path,
//! `x-goog-api-key`, contents in Gemini's shape) and the Chat Completions
//! answer the client gets back, with thoughts and their signature (which
//! come back on the part that carried them), tools and errors.

use serde_json::{Value, json};

use super::{KEY, ask, assert_refusals_pass_through, error_message, header, keyed, one_backend};
use crate::support::mock_upstream::{
    GEMINI_SIGNATURE, MockUpstream, REASONING_TEXT, REPLY_TEXT, TOOL_COMMAND,
};
use crate::support::sse::{content, reasoning};
use crate::support::{Gateway, user};

fn gateway(mock: &MockUpstream) -> Gateway {
    let url = mock.base_url();
    keyed(&one_backend(
        "gem",
        &url,
        r#"dialect = "gemini"
auth = { env = "UP_KEY", header = "x-goog-api-key", scheme = "" }
max_retry_wait_seconds = 5
default_model = "gemini-test""#,
    ))
}

#[tokio::test]
async fn the_request_takes_gemini_shape_and_the_answer_chat_shape() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let (status, headers, body) = gw
        .chat(json!({
            "model": "gem:gemini-x",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "THINK hello"}],
            "max_tokens": 300,
            "reasoning_effort": "low",
            "user": "u-1"
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], REPLY_TEXT);
    assert_eq!(message["reasoning_content"], REASONING_TEXT);
    assert_eq!(
        message["thinking_blocks"],
        json!([{"type": "thinking", "thinking": REASONING_TEXT, "signature": GEMINI_SIGNATURE}])
    );
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(
        body["usage"]["completion_tokens"], 7,
        "thoughts count as output"
    );
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    assert_eq!(headers["x-agent-cli-ignored-params"], "user");
    let sent = mock.last_request(":generateContent");
    assert_eq!(
        sent.path_and_query,
        "/v1beta/models/gemini-x:generateContent"
    );
    assert_eq!(header(&sent, "x-goog-api-key"), Some(KEY));
    assert_eq!(header(&sent, "authorization"), None);
    assert_eq!(
        sent.body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "THINK hello"}]}],
            "generationConfig": {"maxOutputTokens": 300,
                                 "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}}
        })
    );

    // The answer sent back: its signature returns on the part that had it.
    let (status, _, _) = gw
        .chat(json!({"model": "gem:", "messages": [
            {"role": "user", "content": "THINK hello"},
            message.clone(),
            {"role": "user", "content": "again"}
        ]}))
        .await;
    assert_eq!(status, 200);
    let sent = mock.last_request(":generateContent");
    assert_eq!(
        sent.body["contents"][1],
        json!({"role": "model", "parts": [{"text": REPLY_TEXT, "thoughtSignature": GEMINI_SIGNATURE}]})
    );
}

#[tokio::test]
async fn a_stream_flows_and_a_tool_call_goes_round_trip() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let events = gw
        .stream_events(json!({"model": "gem:", "stream": true, "messages": user("THINK hi")}))
        .await;
    assert_eq!(content(&events), REPLY_TEXT);
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let sent = mock.last_request("streamGenerateContent");
    assert_eq!(
        sent.path_and_query,
        "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    );

    let tools = json!([{"type": "function", "function": {"name": "run_shell_command",
        "parameters": {"type": "object", "additionalProperties": false,
                       "properties": {"command": {"type": "string"}}}}}]);
    let (status, _, body) = gw
        .chat(json!({"model": "gem:", "messages": user("USE_TOOL"), "tools": tools}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = body["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "run_shell_command");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["command"], TOOL_COMMAND);
    let sent = mock.last_request(":generateContent");
    assert_eq!(
        sent.body["tools"],
        json!([{"functionDeclarations": [{"name": "run_shell_command",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}]}]),
        "the schema is cleaned of what Gemini refuses"
    );
    let (status, _, body) = gw
        .chat(json!({"model": "gem:", "tools": tools, "messages": [
            {"role": "user", "content": "USE_TOOL"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "tool-ok"}
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "tool result seen: tool-ok"
    );
    let sent = mock.last_request(":generateContent");
    assert_eq!(
        sent.body["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"id": call["id"],
               "name": "run_shell_command", "response": {"result": "tool-ok"}}}]})
    );
}

#[tokio::test]
async fn gemini_errors_keep_their_status_and_message() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let (status, _, body) = gw.chat(ask("gem:x:streamGenerateContent", "hi")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("not a Gemini model name"),
        "{body}"
    );
    assert_refusals_pass_through(&gw, "gem:").await;
}
