//! `POST /v1/responses` (OpenAI Responses in) over every backend kind: the
//! fake CLI, and the mock upstream speaking Chat Completions and Responses.
//! Asserts the event sequence, the response object, `previous_response_id`
//! (kept, continued, bound to one CLI session, `store: false`), tool
//! round trips, pass-through, and errors.

use serde_json::{Value, json};

use crate::support::Gateway;
use crate::support::every_backend;
use crate::support::mock_upstream::{MockUpstream, REPLY_TEXT, TOOL_COMMAND, TOOL_RESULT_REPLY};
use crate::support::sse::SseEvent;

async fn rig() -> (MockUpstream, Gateway) {
    every_backend::start("").await
}

async fn create(gw: &Gateway, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    gw.post("/v1/responses", body, &[]).await
}

async fn stream(gw: &Gateway, mut body: Value) -> Vec<SseEvent> {
    body["stream"] = json!(true);
    gw.stream_at("/v1/responses", body).await.collect().await
}

/// The output text of a response object.
fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().unwrap())
        .map(|part| part["text"].as_str().unwrap().to_owned())
        .collect()
}

fn types(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let data = e.json();
            assert_eq!(e.event.as_deref(), data["type"].as_str(), "{e:?}");
            data["type"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_cli_backend_answers_a_response_object() {
    let (_mock, gw) = rig().await;
    let (status, headers, body) = create(
        &gw,
        json!({"model": "fake:fake-1", "instructions": "be brief", "input": "say hi",
               "max_output_tokens": 50}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(body["model"], "fake:fake-1");
    let item = &body["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["status"], "completed");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert!(output_text(&body).contains("say hi"), "{body}");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 3, "input_tokens_details": {"cached_tokens": 1},
               "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 7})
    );
    assert_eq!(headers["x-agent-cli-ignored-params"], "max_output_tokens");
}

#[tokio::test]
async fn a_cli_backend_streams_the_full_event_sequence() {
    let (_mock, gw) = rig().await;
    let events = stream(&gw, json!({"model": "fake-stream", "input": "go"})).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let data: Vec<Value> = events.iter().map(SseEvent::json).collect();
    for (n, event) in data.iter().enumerate() {
        assert_eq!(event["sequence_number"], n, "{event}");
    }
    assert_eq!(data[0]["response"]["status"], "in_progress");
    assert_eq!(data[2]["item"]["type"], "reasoning");
    assert_eq!(data[4]["delta"], "chunk0 ");
    assert_eq!(data[8]["output_index"], 1);
    assert_eq!(data[12]["text"], "chunk1 chunk2 ");
    let done = &data[15]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["summary"][0]["text"], "chunk0 ");
    assert_eq!(output_text(done), "chunk1 chunk2 ");
    assert_eq!(done["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn a_failure_after_the_start_is_a_failed_response() {
    let (_mock, gw) = rig().await;
    let events = stream(&gw, json!({"model": "fake-late-error", "input": "go"})).await;
    let last = events.last().unwrap().json();
    assert_eq!(last["type"], "response.failed", "{events:?}");
    assert_eq!(last["response"]["status"], "failed");
    assert!(
        last["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream said no"),
        "{last}"
    );
    // Before the start, OpenAI's envelope with the status.
    let (status, _, body) = create(&gw, json!({"model": "nobody:knows", "input": "x"})).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    let (status, _, body) = create(&gw, json!({"model": "fake:fake-1"})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`input`"),
        "{body}"
    );
}

#[tokio::test]
async fn previous_response_id_continues_and_binds_one_cli_session() {
    let (_mock, gw) = rig().await;
    let (status, _, first) = create(
        &gw,
        json!({"model": "fake:fake-1", "input": "remember APPLE"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    // Continued: the whole conversation reaches the CLI (a new CLI session,
    // bound to the conversation's key).
    let (status, headers, second) = create(
        &gw,
        json!({"model": "fake:fake-1", "input": "and PEAR",
               "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], first["id"]);
    let prompt = output_text(&second);
    assert!(
        prompt.contains("remember APPLE") && prompt.contains("and PEAR"),
        "{prompt}"
    );
    assert!(
        headers.get("x-agent-cli-ignored-params").is_none(),
        "{headers:?}"
    );
    // Again: the CLI session holds the rest, only the new input goes.
    let (status, _, third) = create(
        &gw,
        json!({"model": "fake:fake-1", "input": "and PLUM",
               "previous_response_id": second["id"]}),
    )
    .await;
    assert_eq!(status, 200, "{third}");
    let prompt = output_text(&third);
    assert!(
        prompt.contains("and PLUM") && !prompt.contains("APPLE"),
        "{prompt}"
    );
    // Not kept with store: false; an unknown id is refused with a reason.
    let (_, _, unkept) = create(
        &gw,
        json!({"model": "fake:fake-1", "input": "x", "store": false}),
    )
    .await;
    assert_eq!(unkept["store"], false);
    let (status, _, body) = create(
        &gw,
        json!({"model": "fake:fake-1", "input": "y", "previous_response_id": unkept["id"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("previous_response_id"),
        "{body}"
    );
}

/// A tool round trip through `model`, whole then streamed.
async fn tool_round_trip(gw: &Gateway, model: &str) {
    let tools = json!([{"type": "function", "name": "shell_command",
                        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}]);
    let ask = json!({"model": model, "input": "USE_TOOL please", "tools": tools});
    let (status, _, body) = create(gw, ask.clone()).await;
    assert_eq!(status, 200, "{body}");
    let call = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("no function_call: {body}"))
        .clone();
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["command"], TOOL_COMMAND);
    let events = stream(gw, ask).await;
    let deltas: String = events
        .iter()
        .map(SseEvent::json)
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&deltas).unwrap()["command"],
        TOOL_COMMAND
    );
    // The output goes back as an item; the answer reads it.
    let follow = json!({"model": model, "tools": tools, "input": [
        {"role": "user", "content": "USE_TOOL please"},
        {"type": "function_call", "call_id": call["call_id"], "name": "shell_command",
         "arguments": call["arguments"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "tool-ok\n"},
    ]});
    let (status, _, body) = create(gw, follow).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(output_text(&body), TOOL_RESULT_REPLY, "{body}");
}

#[tokio::test]
async fn a_chat_upstream_runs_a_tool_round_trip() {
    let (mock, gw) = rig().await;
    tool_round_trip(&gw, "chat:model-y").await;
    let sent = mock.last_request("/v1/chat/completions");
    let tool = sent.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap();
    assert_eq!(tool["content"], "tool-ok\n");
}

#[tokio::test]
async fn a_responses_upstream_gets_the_request_as_sent() {
    let (mock, gw) = rig().await;
    tool_round_trip(&gw, "responses:model-z").await;
    let request = json!({"model": "responses:model-z", "input": "hi",
                         "truncation": "auto", "include": ["reasoning.encrypted_content"],
                         "service_tier": "flex"});
    let (status, headers, body) = create(&gw, request.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.get("x-agent-cli-ignored-params").is_none());
    let sent = mock.last_request("/v1/responses");
    let mut expected = request.clone();
    expected["model"] = json!("model-z");
    assert_eq!(sent.body, expected);
    // The upstream's own response, its ids included.
    assert_eq!(body["model"], "model-z", "{body}");
    assert_eq!(output_text(&body), REPLY_TEXT);
    let events = stream(&gw, request).await;
    let last = events.last().unwrap().json();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["model"], "model-z");
    let created: Vec<Value> = events
        .iter()
        .map(SseEvent::json)
        .filter(|e| e["type"] == "response.created")
        .collect();
    assert_eq!(
        created.len(),
        1,
        "only the upstream's own start: {events:?}"
    );
    assert_eq!(created[0]["response"]["id"], last["response"]["id"]);
    // A translating backend names what it cannot honour.
    let (_, headers, _) = create(
        &gw,
        json!({"model": "chat:m", "input": "hi", "truncation": "auto"}),
    )
    .await;
    assert_eq!(headers["x-agent-cli-ignored-params"], "truncation");
}

#[tokio::test]
async fn a_stream_held_whole_is_capped_like_a_folded_answer() {
    let (_mock, gw) = every_backend::start("max_answer_bytes = 10").await;
    // 3 chunks of 7 bytes: past 10, the stream ends, failed.
    let events = stream(&gw, json!({"model": "fake-stream", "input": "go"})).await;
    let last = events.last().unwrap().json();
    assert_eq!(last["type"], "response.failed", "{events:?}");
    let message = last["response"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_answer_bytes"), "{message}");
    // The chat endpoint's streams hold nothing, and have no cap.
    let chat = gw
        .stream_events(json!({"model": "fake-stream", "stream": true,
                              "messages": [{"role": "user", "content": "go"}]}))
        .await;
    assert_eq!(chat.last().unwrap().data, "[DONE]");
}
