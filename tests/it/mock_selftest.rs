//! Self-tests of the fake model upstream (`support::mock_upstream`): each dialect's stream shape,
//! the markers, incremental flushing and request recording. The real CLIs are not run here.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_upstream::{MockUpstream, REASONING_TEXT, REPLY_TEXT, SLOW_DELAY};
use crate::support::sse::{SseEvent, SseReader};

async fn post(mock: &MockUpstream, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", mock.base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn anthropic_request(prompt: &str) -> Value {
    json!({"model": "claude-test", "stream": true, "max_tokens": 100,
           "messages": [{"role": "user", "content": [
               {"type": "text", "text": "<system-reminder>ignore me USE_TOOL THINK</system-reminder>"},
               {"type": "text", "text": prompt}]}]})
}

#[tokio::test]
async fn anthropic_stream_concatenates_to_reply_and_thinks_first() {
    let mock = MockUpstream::start().await;
    let events = SseReader::new(
        post(
            &mock,
            "/v1/messages?beta=true",
            &anthropic_request("say hello"),
        )
        .await,
    )
    .collect()
    .await;
    let names: Vec<_> = events.iter().filter_map(|e| e.event.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    let text: String = events
        .iter()
        .filter_map(|e| {
            e.json()
                .pointer("/delta/text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, REPLY_TEXT);

    let events =
        SseReader::new(post(&mock, "/v1/messages", &anthropic_request("THINK first")).await)
            .collect()
            .await;
    let delta_kinds: Vec<String> = events
        .iter()
        .filter_map(|e| {
            e.json()
                .pointer("/delta/type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let first_thinking = delta_kinds
        .iter()
        .position(|k| k == "thinking_delta")
        .expect("thinking delta");
    let first_text = delta_kinds
        .iter()
        .position(|k| k == "text_delta")
        .expect("text delta");
    assert!(first_thinking < first_text, "{delta_kinds:?}");
    assert!(delta_kinds.contains(&"signature_delta".to_owned()));
}

#[tokio::test]
async fn anthropic_tool_round_trip() {
    let mock = MockUpstream::start().await;
    let mut request = anthropic_request("USE_TOOL: run it");
    request["tools"] = json!([{"name": "Bash", "input_schema": {}}]);
    request["stream"] = json!(false);
    let answer: Value = post(&mock, "/v1/messages", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(answer["content"][0]["input"]["command"], "echo tool-ok");

    request["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": answer["content"]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "tool-ok\n"}]}),
    ]);
    let answer: Value = post(&mock, "/v1/messages", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["content"][0]["text"], "tool result seen: tool-ok");
}

#[tokio::test]
async fn responses_stream_concatenates_to_reply_and_completes_with_usage() {
    let mock = MockUpstream::start().await;
    let request = json!({"model": "gpt-test", "stream": true, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "THINK then say hello"}]}]});
    let events = SseReader::new(post(&mock, "/v1/responses", &request).await)
        .collect()
        .await;
    let payloads: Vec<Value> = events.iter().map(SseEvent::json).collect();
    for (index, (event, payload)) in events.iter().zip(&payloads).enumerate() {
        assert_eq!(event.event.as_deref(), payload["type"].as_str());
        assert_eq!(payload["sequence_number"], json!(index));
    }
    let deltas = |kind: &str| -> String {
        payloads
            .iter()
            .filter(|p| p["type"] == kind)
            .filter_map(|p| p["delta"].as_str())
            .collect()
    };
    assert_eq!(deltas("response.output_text.delta"), REPLY_TEXT);
    assert_eq!(
        deltas("response.reasoning_summary_text.delta"),
        REASONING_TEXT
    );
    let last = payloads.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["usage"]["total_tokens"], 17);
    assert_eq!(
        last["response"]["usage"]["output_tokens_details"]["reasoning_tokens"],
        2
    );
}

#[tokio::test]
async fn gemini_stream_and_json_helper_call() {
    let mock = MockUpstream::start().await;
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "<session_context/>"}, {"text": "say hello"}]}]});
    let response = post(
        &mock,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &request,
    )
    .await;
    let events = SseReader::new(response).collect().await;
    let text: String = events
        .iter()
        .filter_map(|e| {
            e.json()
                .pointer("/candidates/0/content/parts/0/text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, REPLY_TEXT);
    assert_eq!(
        events.last().unwrap().json()["candidates"][0]["finishReason"],
        "STOP"
    );
    // Asked to think, it sends a thought part first (which Gemini CLI drops).
    let thinking = json!({"contents": [{"role": "user", "parts": [{"text": "THINK say hello"}]}]});
    let events = SseReader::new(
        post(
            &mock,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            &thinking,
        )
        .await,
    )
    .collect()
    .await;
    let thought = &events[0].json()["candidates"][0]["content"]["parts"][0];
    assert_eq!(thought["thought"], true, "{events:?}");
    assert_eq!(thought["text"], REASONING_TEXT);

    let helper = json!({"contents": [{"role": "user", "parts": [{"text": "route this"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object",
            "properties": {"complexity_reasoning": {"type": "string"},
                           "complexity_score": {"type": "integer", "minimum": 1, "maximum": 100}}}}});
    let answer: Value = post(
        &mock,
        "/v1beta/models/gemini-3.5-flash-lite:generateContent",
        &helper,
    )
    .await
    .json()
    .await
    .unwrap();
    let text = answer["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    let shaped: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        shaped,
        json!({"complexity_reasoning": "fake", "complexity_score": 1})
    );
}

#[tokio::test]
async fn fail_markers_give_error_statuses() {
    let mock = MockUpstream::start().await;
    let response = post(&mock, "/v1/messages", &anthropic_request("FAIL_400 please")).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "fake upstream rejected the request (FAIL_400 marker)"
    );

    let response = post(&mock, "/v1/messages", &anthropic_request("FAIL_500 please")).await;
    assert_eq!(response.status(), 500);
    let response = post(&mock, "/v1/nowhere", &json!({})).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn slow_stream_flushes_each_event_late() {
    let mock = MockUpstream::start().await;
    let mut reader =
        SseReader::new(post(&mock, "/v1/messages", &anthropic_request("SLOW_STREAM hi")).await);
    let first = reader.next().await.expect("first event");
    let second = reader.next().await.expect("second event");
    assert!(
        second.at.duration_since(first.at) >= SLOW_DELAY.mul_f32(0.8),
        "second event came too early"
    );
}

#[tokio::test]
async fn stall_stream_stops_after_first_text_delta_until_client_leaves() {
    let mock = MockUpstream::start().await;
    let mut reader =
        SseReader::new(post(&mock, "/v1/messages", &anthropic_request("STALL_STREAM hi")).await);
    loop {
        let event = reader
            .next()
            .await
            .expect("stream ended before the first text delta");
        if event.json().pointer("/delta/type") == Some(&json!("text_delta")) {
            break;
        }
    }
    let more = tokio::time::timeout(Duration::from_secs(1), reader.next()).await;
    assert!(more.is_err(), "stalled stream sent {more:?}");
    assert_eq!(mock.open_streams(), 1);

    drop(reader);
    assert!(
        crate::support::eventually(Duration::from_secs(5), || mock.open_streams() == 0).await,
        "stalled stream outlived its client"
    );
}

#[tokio::test]
async fn requests_are_recorded_in_order() {
    let mock = MockUpstream::start().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    post(&mock, "/v1/chat/completions", &body)
        .await
        .bytes()
        .await
        .unwrap();
    reqwest::get(format!("{}/v1/models", mock.base_url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (
            requests[0].method.as_str(),
            requests[0].path_and_query.as_str()
        ),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(requests[0].body, body);
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );
    assert_eq!(
        (requests[1].method.as_str(), requests[1].body.clone()),
        ("GET", Value::Null)
    );
}
