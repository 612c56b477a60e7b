//! An `http` backend speaking Anthropic Messages, in front of the mock
//! upstream: the exact request it gets (path, `x-api-key`,
//! `anthropic-version`, body in Anthropic's shape) and the OpenAI answer
//! the client gets back, with reasoning signatures that survive a round
//! trip, usage, errors and the `anthropic` preset.

use serde_json::{Value, json};

use super::{KEY, ask, assert_refusals_pass_through, error_message, header, keyed, one_backend};
use crate::support::mock_upstream::{MockUpstream, REASONING_TEXT, REPLY_TEXT, TOOL_COMMAND};
use crate::support::sse::{content, reasoning};
use crate::support::{Gateway, user};

fn gateway(mock: &MockUpstream) -> Gateway {
    let url = mock.base_url();
    keyed(&one_backend(
        "ant",
        &url,
        r#"dialect = "anthropic-messages"
auth = { env = "UP_KEY", header = "x-api-key" }
max_retry_wait_seconds = 5
default_model = "claude-test""#,
    ))
}

/// The reasoning block the mock signs, as the client gets it back.
fn signed_block() -> Value {
    json!({"type": "thinking", "thinking": REASONING_TEXT, "signature": "fake-signature"})
}

#[tokio::test]
async fn the_request_takes_anthropic_shape_and_the_answer_openai_shape() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let (status, headers, body) = gw
        .chat(json!({
            "model": "ant:claude-x",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "THINK hello"}],
            "max_tokens": 300,
            "temperature": 0.3,
            "stop": ["END"],
            "seed": 7,
            "metadata": {"trace": "t-1"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], REPLY_TEXT);
    assert_eq!(message["reasoning_content"], REASONING_TEXT);
    assert_eq!(message["thinking_blocks"], json!([signed_block()]));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["total_tokens"], 17);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(headers["x-agent-cli-backend"], "ant");
    assert_eq!(
        headers["x-agent-cli-ignored-params"], "metadata,seed",
        "what Anthropic has no place for is named"
    );
    let sent = mock.last_request("/messages");
    assert_eq!(sent.path_and_query, "/v1/messages");
    assert_eq!(header(&sent, "x-api-key"), Some(KEY));
    assert_eq!(header(&sent, "authorization"), None);
    assert_eq!(header(&sent, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        sent.body,
        json!({
            "model": "claude-x",
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "THINK hello"}]}],
            "max_tokens": 300,
            "temperature": 0.3,
            "stop_sequences": ["END"]
        })
    );
    assert!(!gw.logs().contains(KEY));
}

#[tokio::test]
async fn a_signed_reasoning_block_streams_out_and_comes_back_with_its_signature() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let events = gw
        .stream_events(json!({
            "model": "ant:", "stream": true, "stream_options": {"include_usage": true},
            "reasoning_effort": "medium",
            "messages": user("THINK hi")
        }))
        .await;
    assert_eq!(content(&events), REPLY_TEXT);
    assert_eq!(reasoning(&events), REASONING_TEXT);
    let blocks: Vec<Value> = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]
                .get("thinking_blocks")
                .cloned()
        })
        .collect();
    assert_eq!(blocks, [json!([signed_block()])]);
    let usage = events
        .iter()
        .find(|e| e.data != "[DONE]" && e.json().get("usage").is_some())
        .expect("a usage chunk");
    assert_eq!(usage.json()["usage"]["total_tokens"], 17);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let sent = mock.last_request("/messages");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["model"], "claude-test", "the default model");
    assert_eq!(
        sent.body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    assert_eq!(sent.body["max_tokens"], 4096 + 8192);

    // The client sends the answer back as it got it: the block returns signed.
    let (status, _, body) = gw
        .chat(json!({"model": "ant:", "messages": [
            {"role": "user", "content": "THINK hi"},
            {"role": "assistant", "content": REPLY_TEXT, "reasoning_content": REASONING_TEXT,
             "thinking_blocks": [signed_block()]},
            {"role": "user", "content": "again"}
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = mock.last_request("/messages");
    assert_eq!(
        sent.body["messages"][1],
        json!({"role": "assistant", "content": [
            signed_block(),
            {"type": "text", "text": REPLY_TEXT}
        ]})
    );
}

#[tokio::test]
async fn tool_calls_and_results_go_round_trip() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let tools = json!([{"type": "function", "function": {"name": "Bash",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]);
    let (status, _, body) = gw
        .chat(
            json!({"model": "ant:", "messages": user("USE_TOOL"), "tools": tools,
                     "tool_choice": "required", "parallel_tool_calls": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = body["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "Bash");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["command"], TOOL_COMMAND);
    let sent = mock.last_request("/messages");
    assert_eq!(
        sent.body["tools"],
        json!([{"name": "Bash", "input_schema": {"type": "object",
                "properties": {"command": {"type": "string"}}}}])
    );
    assert_eq!(
        sent.body["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );

    let (status, _, body) = gw
        .chat(json!({"model": "ant:", "tools": tools, "messages": [
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
    let sent = mock.last_request("/messages");
    assert_eq!(
        sent.body["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": call["id"], "name": "Bash", "input": arguments})
    );
    assert_eq!(
        sent.body["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
               "content": [{"type": "text", "text": "tool-ok"}]}]})
    );
}

#[tokio::test]
async fn anthropic_errors_keep_their_status_and_message() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    assert_refusals_pass_through(&gw, "ant:").await;
    let (status, _, body) = gw
        .chat(json!({"model": "ant:", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "[1"}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": "r"}
        ]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("call_9"), "{body}");
}

#[tokio::test]
async fn the_anthropic_preset_reads_its_key_and_base_url_as_the_sdks_do() {
    let mock = MockUpstream::start().await;
    let gw = Gateway::without_config()
        .arg("--preset")
        .arg("anthropic")
        .env("ANTHROPIC_API_KEY", KEY)
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .start();
    let (status, headers, body) = gw.chat(ask("anthropic:fake-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-agent-cli-backend"], "anthropic");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY_TEXT);
    let sent = mock.last_request("/messages");
    assert_eq!(sent.path_and_query, "/v1/messages");
    assert_eq!(header(&sent, "x-api-key"), Some(KEY));
    assert_eq!(sent.body["model"], "fake-model");
}

#[tokio::test]
async fn a_pdf_goes_to_anthropic_as_a_document_and_a_cli_refuses_it() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let pdf = json!({"role": "user", "content": [
        {"type": "text", "text": "summarise"},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=",
                                  "filename": "report.pdf"}}
    ]});
    let (status, _, body) = gw.chat(json!({"model": "ant:", "messages": [pdf]})).await;
    assert_eq!(status, 200, "{body}");
    let sent = mock.last_request("/messages");
    assert_eq!(
        sent.body["messages"][0]["content"][1],
        json!({"type": "document", "title": "report.pdf",
               "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}})
    );

    let cli = crate::support::fake_config("", crate::support::FAKE_ROUTE);
    let gw = Gateway::builder(&cli).start();
    let (status, _, body) = gw.chat(json!({"model": "fake:", "messages": [pdf]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("cannot take files"), "{body}");
}
