//! Tests of `response`.

use super::*;

fn meta() -> AnswerMeta {
    AnswerMeta {
        request_id: "1".into(),
        created: 7,
        model: "m".into(),
    }
}

fn json_of(frames: &[Frame]) -> Vec<Value> {
    frames
        .iter()
        .map(|f| serde_json::from_str(&f.data).unwrap_or(Value::Null))
        .collect()
}

#[test]
fn stream_chunks_follow_the_openai_shape() {
    let mut enc = ChatCodec {
        include_usage: true,
    }
    .encoder(meta());
    let open = json_of(&enc.open());
    assert_eq!(open[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(open[0]["id"], "chatcmpl-1");
    let text = json_of(&enc.event(&Event::TextDelta("hi".into())));
    assert_eq!(text[0]["choices"][0]["delta"], json!({"content": "hi"}));
    let reasoning = json_of(&enc.event(&Event::ReasoningDelta("hm".into())));
    assert_eq!(
        reasoning[0]["choices"][0]["delta"],
        json!({"reasoning_content": "hm"})
    );
    assert!(enc.event(&Event::Session("s1".into())).is_empty());
    assert!(
        enc.event(&Event::Usage(Usage {
            input_tokens: Some(12),
            output_tokens: Some(5),
            cache_read_tokens: Some(2),
            ..Usage::default()
        }))
        .is_empty()
    );
    let close = enc.event(&Event::Finish(FinishReason::Stop));
    let chunks = json_of(&close);
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[0]["session_id"], "s1");
    assert_eq!(chunks[1]["choices"], json!([]));
    assert_eq!(chunks[1]["usage"]["total_tokens"], 17);
    assert_eq!(
        chunks[1]["usage"]["prompt_tokens_details"]["cached_tokens"],
        2
    );
    assert_eq!(close[2].data, "[DONE]");
}

#[test]
fn no_usage_chunk_unless_asked() {
    let mut enc = ChatCodec {
        include_usage: false,
    }
    .encoder(meta());
    enc.event(&Event::Usage(Usage {
        output_tokens: Some(1),
        ..Usage::default()
    }));
    let close = enc.event(&Event::Finish(FinishReason::Length));
    assert_eq!(close.len(), 2);
    assert_eq!(json_of(&close)[0]["choices"][0]["finish_reason"], "length");
}

#[test]
fn folding_keeps_text_reasoning_and_usage() {
    let mut folder = ChatCodec {
        include_usage: false,
    }
    .folder(meta());
    for e in [
        Event::ReasoningDelta("think".into()),
        Event::TextDelta("hel".into()),
        Event::TextDelta("lo".into()),
        Event::Usage(Usage {
            output_tokens: Some(2),
            ..Usage::default()
        }),
        Event::Finish(FinishReason::Stop),
    ] {
        folder.push(&e);
    }
    let body = folder.body();
    assert_eq!(body["choices"][0]["message"]["content"], "hello");
    assert_eq!(body["choices"][0]["message"]["reasoning_content"], "think");
    assert_eq!(body["usage"]["completion_tokens"], 2);
    assert_eq!(body["object"], "chat.completion");
}

#[test]
fn tool_calls_stream_as_deltas_and_fold_into_the_message() {
    let events = [
        Event::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "weather".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"city\":".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "\"Oslo\"}".into(),
        },
        Event::Finish(FinishReason::ToolCalls),
    ];
    let codec = ChatCodec {
        include_usage: false,
    };
    let mut enc = codec.encoder(meta());
    let chunks: Vec<Value> = events.iter().flat_map(|e| json_of(&enc.event(e))).collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}})
    );
    assert_eq!(
        chunks[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "\"Oslo\"}"
    );
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "tool_calls");
    let mut folder = codec.folder(meta());
    events.iter().for_each(|e| folder.push(e));
    let body = folder.body();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Oslo\"}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn calls_with_index_gaps_fold_without_empty_entries_and_finish_as_tool_calls() {
    let events = [
        Event::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "b".into(),
        },
        Event::ToolCallStart {
            index: 3,
            id: "call_d".into(),
            name: "d".into(),
        },
        // A backend that says only that it stopped.
        Event::Finish(FinishReason::Stop),
    ];
    let codec = ChatCodec {
        include_usage: false,
    };
    let mut folder = codec.folder(meta());
    events.iter().for_each(|e| folder.push(e));
    let body = folder.body();
    let calls = body["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["call_b", "call_d"]);
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let mut enc = codec.encoder(meta());
    let chunks: Vec<Value> = events.iter().flat_map(|e| json_of(&enc.event(e))).collect();
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn errors_use_the_openai_envelope() {
    let body = error_body(&Error::UnknownModel {
        message: "nope".into(),
    });
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "model_not_found");
    let busy = Error::Busy {
        backend: "b".into(),
        detail: "full".into(),
        retry_after_secs: 1,
    };
    assert_eq!(error_body(&busy)["error"]["type"], "rate_limit_error");
}

/// Two signed reasoning blocks and a redacted one, as a provider sends them.
fn signed_reasoning() -> Vec<Event> {
    vec![
        Event::ReasoningDelta("a".into()),
        Event::ReasoningDelta("b".into()),
        Event::ReasoningSignature("sig-1".into()),
        Event::RedactedReasoning("enc".into()),
        Event::ReasoningDelta("c".into()),
        Event::ReasoningSignature("sig-2".into()),
        Event::TextDelta("done".into()),
        Event::Finish(FinishReason::Stop),
    ]
}

#[test]
fn signed_reasoning_comes_out_as_thinking_blocks_to_send_back() {
    let blocks = json!([
        {"type": "thinking", "thinking": "ab", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "enc"},
        {"type": "thinking", "thinking": "c", "signature": "sig-2"}
    ]);
    let mut folder = ChatCodec {
        include_usage: false,
    }
    .folder(meta());
    for event in signed_reasoning() {
        folder.push(&event);
    }
    let message = &folder.body()["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], "abc");
    assert_eq!(message["thinking_blocks"], blocks);

    let mut enc = ChatCodec {
        include_usage: false,
    }
    .encoder(meta());
    let streamed: Vec<Value> = signed_reasoning()
        .iter()
        .flat_map(|e| json_of(&enc.event(e)))
        .filter_map(|chunk| chunk["choices"][0]["delta"].get("thinking_blocks").cloned())
        .flat_map(|blocks| blocks.as_array().unwrap().clone())
        .collect();
    assert_eq!(Value::Array(streamed), blocks, "each block whole, once");
}
