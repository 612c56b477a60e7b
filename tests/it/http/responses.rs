//! An `http` backend speaking the OpenAI Responses API, in front of the
//! mock upstream: the exact request it gets (path, bearer key, a stateless
//! body with `instructions` and `input` items) and the Chat Completions
//! answer the client gets back, whole and streamed, with reasoning, tools,
//! usage and errors.

use serde_json::json;

use super::{assert_bearer, assert_refusals_pass_through, keyed, one_backend};
use crate::support::mock_upstream::{MockUpstream, REASONING_TEXT, REPLY_TEXT};
use crate::support::sse::{content, reasoning};
use crate::support::{Gateway, user};

fn gateway(mock: &MockUpstream) -> Gateway {
    let url = format!("{}/v1", mock.base_url());
    keyed(&one_backend(
        "resp",
        &url,
        r#"dialect = "openai-responses"
auth = { env = "UP_KEY" }
max_retry_wait_seconds = 5
default_model = "gpt-test""#,
    ))
}

#[tokio::test]
async fn the_request_is_stateless_responses_and_the_answer_chat() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let (status, headers, body) = gw
        .chat(json!({
            "model": "resp:gpt-x",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "THINK hello"}],
            "max_tokens": 300,
            "reasoning_effort": "high",
            "seed": 7,
            "response_format": {"type": "json_object"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], REPLY_TEXT);
    assert_eq!(message["reasoning_content"], REASONING_TEXT);
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["total_tokens"], 17);
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    assert_eq!(headers["x-agent-cli-ignored-params"], "seed");
    let sent = mock.last_request("/responses");
    assert_eq!(sent.path_and_query, "/v1/responses");
    assert_bearer(&sent);
    assert_eq!(
        sent.body,
        json!({
            "model": "gpt-x",
            "instructions": "be brief",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "THINK hello"}]}],
            "store": false,
            "reasoning": {"effort": "high", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "max_output_tokens": 300,
            "text": {"format": {"type": "json_object"}}
        })
    );
}

#[tokio::test]
async fn a_streamed_answer_flows_and_tool_calls_go_round_trip() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let events = gw
        .stream_events(json!({"model": "resp:", "stream": true,
                              "stream_options": {"include_usage": true},
                              "messages": user("THINK hi")}))
        .await;
    assert_eq!(content(&events), REPLY_TEXT);
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let usage = events
        .iter()
        .find(|e| e.data != "[DONE]" && e.json().get("usage").is_some())
        .expect("a usage chunk");
    assert_eq!(usage.json()["usage"]["total_tokens"], 17);
    assert_eq!(mock.last_request("/responses").body["stream"], true);

    let tools = json!([{"type": "function", "function": {"name": "shell",
                        "parameters": {"type": "object"}}}]);
    let (status, _, body) = gw
        .chat(json!({"model": "resp:", "messages": user("USE_TOOL"), "tools": tools}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = body["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "shell");
    let sent = mock.last_request("/responses");
    assert_eq!(
        sent.body["tools"],
        json!([{"type": "function", "name": "shell", "parameters": {"type": "object"}}])
    );
    let (status, _, body) = gw
        .chat(json!({"model": "resp:", "tools": tools, "messages": [
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
    let input = mock.last_request("/responses").body["input"].clone();
    assert_eq!(
        input[1],
        json!({"type": "function_call", "call_id": call["id"], "name": "shell",
               "arguments": call["function"]["arguments"]})
    );
    assert_eq!(
        input[2],
        json!({"type": "function_call_output", "call_id": call["id"], "output": "tool-ok"})
    );
}

#[tokio::test]
async fn responses_errors_keep_their_status_and_message() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    assert_refusals_pass_through(&gw, "resp:").await;
}
