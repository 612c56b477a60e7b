//! The Gemini API in (`/v1beta/models…`) over every backend kind: the fake
//! CLI, and the mock upstream speaking Chat Completions and Gemini.
//! Asserts the chunks (server-sent events and the JSON array), the whole
//! response, usage, tools, pass-through, token counts, and errors in
//! Google's envelope.

use serde_json::{Value, json};

use crate::support::Gateway;
use crate::support::every_backend;
use crate::support::mock_upstream::{MockUpstream, REPLY_TEXT, TOOL_COMMAND, TOOL_RESULT_REPLY};

const TOKEN: &str = "gemini-test-token-0123456789";

async fn rig() -> (MockUpstream, Gateway) {
    every_backend::start(&format!("token = \"{TOKEN}\"")).await
}

const AUTH: &[(&str, &str)] = &[("x-goog-api-key", TOKEN)];

/// POSTs `body` to `models/{model}:{action}` (with `query`): status,
/// headers, and the raw body.
async fn call(
    gw: &Gateway,
    target: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new()
        .post(gw.url(&format!("/v1beta/models/{target}")))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn ask(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// The text of a response's (or chunk's) parts, thoughts left out.
fn text(response: &Value) -> String {
    response["candidates"][0]["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// The JSON data of an SSE body.
fn sse_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|block| block.trim().strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

#[tokio::test]
async fn a_cli_backend_answers_generate_content() {
    let (_mock, gw) = rig().await;
    let body = json!({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "say hi"}]}],
        "generationConfig": {"maxOutputTokens": 50, "topK": 3},
        "safetySettings": [],
    });
    let (status, headers, raw) = call(&gw, "fake:fake-1:generateContent", &body, AUTH).await;
    assert_eq!(status, 200, "{raw}");
    let response: Value = serde_json::from_str(&raw).unwrap();
    assert!(text(&response).contains("say hi"), "{response}");
    assert_eq!(response["candidates"][0]["content"]["role"], "model");
    assert_eq!(response["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        response["usageMetadata"],
        json!({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7,
               "cachedContentTokenCount": 1})
    );
    assert_eq!(
        headers["x-agent-cli-ignored-params"],
        "generationConfig.maxOutputTokens,generationConfig.topK,safetySettings"
    );
}

#[tokio::test]
async fn streams_come_as_server_sent_events_or_one_json_array() {
    let (_mock, gw) = rig().await;
    let mut body = ask("go");
    body["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    let (status, headers, raw) = call(
        &gw,
        "fake-stream:streamGenerateContent?alt=sse",
        &body,
        AUTH,
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(headers["content-type"], "text/event-stream");
    let chunks = sse_data(&raw);
    assert_eq!(chunks.len(), 4, "{raw}");
    assert_eq!(
        chunks[0]["candidates"][0]["content"]["parts"][0],
        json!({"text": "chunk0 ", "thought": true})
    );
    let all: String = chunks.iter().map(text).collect();
    assert_eq!(all, "chunk1 chunk2 ");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 4);
    // Without alt=sse: one JSON array, and no thoughts unless asked for.
    let (status, headers, raw) =
        call(&gw, "fake-stream:streamGenerateContent", &ask("go"), AUTH).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(headers["content-type"], "application/json");
    let array: Vec<Value> = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    let all: String = array.iter().map(text).collect();
    assert_eq!(all, "chunk1 chunk2 ");
    assert!(!raw.contains("\"thought\""), "{raw}");
}

#[tokio::test]
async fn errors_come_in_googles_envelope() {
    let (_mock, gw) = rig().await;
    let google = |raw: &str, code: u16, status: &str| {
        let body: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["error"]["status"], status, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    };
    let (status, _, raw) = call(&gw, "fake:fake-1:generateContent", &ask("hi"), &[]).await;
    assert_eq!(status, 401);
    google(&raw, 401, "UNAUTHENTICATED");
    // The key as a query parameter works too.
    let target = format!("fake:fake-1:generateContent?key={TOKEN}");
    let (status, _, raw) = call(&gw, &target, &ask("hi"), &[]).await;
    assert_eq!(status, 200, "{raw}");
    let (status, _, raw) = call(&gw, "nobody:knows:generateContent", &ask("hi"), AUTH).await;
    assert_eq!(status, 404);
    google(&raw, 404, "NOT_FOUND");
    let (status, _, raw) = call(&gw, "fake:fake-1:dance", &ask("hi"), AUTH).await;
    assert_eq!(status, 404);
    google(&raw, 404, "NOT_FOUND");
    let (status, _, raw) = call(
        &gw,
        "fake:fake-1:generateContent",
        &json!({"contents": 3}),
        AUTH,
    )
    .await;
    assert_eq!(status, 400);
    google(&raw, 400, "INVALID_ARGUMENT");
    let (status, _, raw) = call(&gw, "chat:m:generateContent", &ask("FAIL_429"), AUTH).await;
    assert_eq!(status, 429);
    google(&raw, 429, "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn models_are_listed_as_gemini_resources() {
    let (_mock, gw) = rig().await;
    let list: Value = reqwest::Client::new()
        .get(gw.url("/v1beta/models"))
        .header("x-goog-api-key", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"models/fake:fake-1"), "{names:?}");
    let one: Value = reqwest::Client::new()
        .get(gw.url("/v1beta/models/fake:fake-2"))
        .header("x-goog-api-key", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "models/fake:fake-2");
    assert!(
        one["supportedGenerationMethods"]
            .to_string()
            .contains("countTokens")
    );
}

#[tokio::test]
async fn tokens_are_counted_by_the_upstream_or_estimated() {
    let (mock, gw) = rig().await;
    let (status, headers, raw) = call(
        &gw,
        "fake:fake-1:countTokens",
        &ask("count these words please"),
        AUTH,
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(headers["x-agent-cli-token-count"], "estimate");
    let count: Value = serde_json::from_str(&raw).unwrap();
    assert!(
        (5..20).contains(&count["totalTokens"].as_u64().unwrap()),
        "{count}"
    );
    let wrapped = json!({"generateContentRequest": ask("count these words please")});
    let (_, _, raw) = call(&gw, "fake:fake-1:countTokens", &wrapped, AUTH).await;
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), count);
    // A Gemini upstream counts itself.
    let (status, headers, raw) =
        call(&gw, "gem:gemini-x:countTokens", &ask("count these"), AUTH).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(headers["x-agent-cli-token-count"], "upstream");
    let sent = mock.last_request(":countTokens");
    assert!(
        sent.path_and_query.contains("/models/gemini-x:countTokens"),
        "{}",
        sent.path_and_query
    );
    let request = &sent.body["generateContentRequest"];
    assert_eq!(request["model"], "models/gemini-x");
    assert_eq!(request["contents"][0]["parts"][0]["text"], "count these");
    let raw_size = serde_json::to_vec(&sent.body).unwrap().len() as u64;
    let counted: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        counted["totalTokens"],
        (raw_size / 4).max(1),
        "the mock's count"
    );
}

#[tokio::test]
async fn a_chat_upstream_runs_a_function_call_round_trip() {
    let (mock, gw) = rig().await;
    let tools = json!([{"functionDeclarations": [{"name": "run_shell_command",
        "description": "Runs a command",
        "parameters": {"type": "OBJECT", "properties": {"command": {"type": "STRING"}}}}]}]);
    let mut body = ask("USE_TOOL please");
    body["tools"] = tools.clone();
    let (status, _, raw) = call(&gw, "chat:m:generateContent", &body, AUTH).await;
    assert_eq!(status, 200, "{raw}");
    let response: Value = serde_json::from_str(&raw).unwrap();
    let call_part = response["candidates"][0]["content"]["parts"][0]["functionCall"].clone();
    assert_eq!(call_part["name"], "run_shell_command", "{response}");
    assert_eq!(call_part["args"]["command"], TOOL_COMMAND);
    let sent = mock.last_request("/v1/chat/completions");
    assert_eq!(
        sent.body["tools"][0]["function"]["parameters"]["properties"]["command"]["type"], "string",
        "OpenAPI type names become JSON Schema's"
    );
    // Streamed, the call comes whole.
    let (_, _, raw) = call(&gw, "chat:m:streamGenerateContent?alt=sse", &body, AUTH).await;
    let calls: Vec<Value> = sse_data(&raw)
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.get("functionCall").cloned())
        .collect();
    assert_eq!(calls.len(), 1, "{raw}");
    assert_eq!(calls[0]["args"]["command"], TOOL_COMMAND);
    // The response goes back, paired with its call by name.
    let follow = json!({"tools": tools, "contents": [
        {"role": "user", "parts": [{"text": "USE_TOOL please"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "run_shell_command",
                                                      "args": {"command": TOOL_COMMAND}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command",
                                                         "response": {"output": "tool-ok\n"}}}]},
    ]});
    let (status, _, raw) = call(&gw, "chat:m:generateContent", &follow, AUTH).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(
        text(&serde_json::from_str(&raw).unwrap()),
        TOOL_RESULT_REPLY
    );
    let sent = mock.last_request("/v1/chat/completions");
    let messages = sent.body["messages"].as_array().unwrap();
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    let call_id = &messages[1]["tool_calls"][0]["id"];
    assert_eq!(&tool["tool_call_id"], call_id);
    assert_eq!(tool["content"], "tool-ok\n");
}

#[tokio::test]
async fn a_gemini_upstream_gets_the_request_as_sent() {
    let (mock, gw) = rig().await;
    let mut body = ask("hi");
    body["safetySettings"] =
        json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]);
    body["generationConfig"] = json!({"topK": 4});
    let (status, headers, raw) = call(&gw, "gem:gemini-x:generateContent", &body, AUTH).await;
    assert_eq!(status, 200, "{raw}");
    assert!(headers.get("x-agent-cli-ignored-params").is_none());
    let sent = mock.last_request(":generateContent");
    assert!(
        sent.path_and_query
            .contains("/models/gemini-x:generateContent"),
        "{}",
        sent.path_and_query
    );
    assert_eq!(sent.body, body);
    let response: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        response["modelVersion"], "fake-gemini",
        "the upstream's own answer"
    );
    assert_eq!(text(&response), REPLY_TEXT);
    let (_, _, raw) = call(
        &gw,
        "gem:gemini-x:streamGenerateContent?alt=sse",
        &body,
        AUTH,
    )
    .await;
    let chunks = sse_data(&raw);
    assert_eq!(chunks.iter().map(text).collect::<String>(), REPLY_TEXT);
    assert!(chunks.iter().all(|c| c["modelVersion"] == "fake-gemini"));
    // Without alt=sse, the upstream's chunks as the elements of one array.
    let target = "gem:gemini-x:streamGenerateContent";
    let (_, headers, raw) = call(&gw, target, &body, AUTH).await;
    assert_eq!(headers["content-type"], "application/json");
    let array: Vec<Value> = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    let without_id = |chunks: &[Value]| {
        let mut chunks = chunks.to_vec();
        chunks
            .iter_mut()
            .for_each(|c| c["responseId"] = Value::Null);
        chunks
    };
    assert_eq!(
        without_id(&array),
        without_id(&chunks),
        "each answer has its own id"
    );
}
