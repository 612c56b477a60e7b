//! Anthropic Messages to and from an upstream.

use serde_json::json;

use super::*;
use crate::dialect::upstream::testing::{chat_turn as turn, decode_in_pieces};

#[test]
fn system_tools_images_and_tool_results_take_anthropic_shapes() {
    let t = turn(json!({
        "model": "anthropic:claude-x",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "use tools"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
            ]},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "tool", "tool_call_id": "call_2", "content": "43"},
            {"role": "user", "content": "and?"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "does f",
             "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "g"}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": "END",
        "user": "u-1",
        "max_tokens": 100
    }));
    let body = request(&t, "claude-x", None).unwrap();
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "use tools"}])
    );
    assert_eq!(body["model"], "claude-x");
    assert_eq!(body["max_tokens"], 100);
    assert!(body.get("thinking").is_none() && body.get("stream").is_none());
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        body["tools"],
        json!([
            {"name": "f", "description": "does f",
             "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}},
            {"name": "g", "input_schema": {"type": "object", "properties": {}}}
        ])
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "42"}]},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "43"}]},
                {"type": "text", "text": "and?"}
            ]}
        ])
    );
}

#[test]
fn tool_choice_maps_each_way_and_needs_tools() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let with = |choice: Value| {
        let t = turn(json!({"messages": [{"role": "user", "content": "hi"}],
                            "tools": tools, "tool_choice": choice}));
        request(&t, "m", None).unwrap()["tool_choice"].clone()
    };
    assert_eq!(with(json!("auto")), json!({"type": "auto"}));
    assert_eq!(with(json!("none")), json!({"type": "none"}));
    assert_eq!(
        with(json!({"type": "function", "function": {"name": "f"}})),
        json!({"type": "tool", "name": "f"})
    );
    let t = turn(json!({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"}));
    let body = request(&t, "m", None).unwrap();
    assert!(body.get("tool_choice").is_none() && body.get("tools").is_none());
}

#[test]
fn effort_becomes_a_thinking_budget_below_max_tokens() {
    let t = turn(json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}));
    let body = request(&t, "m", Some(Effort::High)).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 10_000})
    );
    assert_eq!(body["max_tokens"], 10_000 + DEFAULT_MAX_TOKENS);
    let body = request(&t, "m", Some(Effort::Max)).unwrap();
    assert_eq!(body["max_tokens"], 32_000, "capped");
    assert_eq!(body["thinking"]["budget_tokens"], 24_000);
    let mut small = t.clone();
    small.params.max_tokens = Some(5000);
    let body = request(&small, "m", Some(Effort::High)).unwrap();
    assert_eq!(body["max_tokens"], 5000, "the client's max is kept");
    assert_eq!(body["thinking"]["budget_tokens"], 4999);
    small.params.max_tokens = Some(500);
    let body = request(&small, "m", Some(Effort::Low)).unwrap();
    assert!(body.get("thinking").is_none(), "no room to think: {body}");
    assert_eq!(
        request(&t, "m", None).unwrap()["max_tokens"],
        DEFAULT_MAX_TOKENS
    );
}

#[test]
fn signed_and_redacted_reasoning_go_back_before_the_answer() {
    let t = turn(json!({"messages": [
        {"role": "user", "content": "think"},
        {"role": "assistant", "content": "done", "reasoning_content": "hmm",
         "thinking_blocks": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "enc=="},
            {"type": "thinking", "thinking": "unsigned"}
         ]},
        {"role": "user", "content": "more"}
    ]}));
    let body = request(&t, "m", None).unwrap();
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "hmm", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "enc=="},
            {"type": "text", "text": "done"}
        ])
    );
}

#[test]
fn arguments_that_are_not_an_object_are_refused_by_name() {
    let t = turn(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "[1"}}
        ]}
    ]}));
    let err = request(&t, "m", None).unwrap_err();
    assert!(err.contains("call_9"), "{err}");
}

#[test]
fn a_whole_answer_gives_reasoning_signature_calls_usage_and_reason() {
    let body = json!({
        "type": "message", "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "t1", "name": "a", "input": {"x": 1}},
            {"type": "tool_use", "id": "t2", "name": "b", "input": {}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "cache_read_input_tokens": 10,
                  "cache_creation_input_tokens": 5, "output_tokens": 7}
    });
    assert_eq!(
        answer(&body).unwrap(),
        [
            Event::ReasoningDelta("hmm".into()),
            Event::ReasoningSignature("sig".into()),
            Event::RedactedReasoning("enc".into()),
            Event::TextDelta("Hi".into()),
            Event::ToolCallStart {
                index: 0,
                id: "t1".into(),
                name: "a".into()
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "{\"x\":1}".into()
            },
            Event::ToolCallStart {
                index: 1,
                id: "t2".into(),
                name: "b".into()
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "{}".into()
            },
            Event::Usage(Usage {
                input_tokens: Some(18),
                output_tokens: Some(7),
                cache_read_tokens: Some(10),
                cache_write_tokens: Some(5),
                reasoning_tokens: None,
            }),
            Event::Finish(FinishReason::ToolCalls),
        ]
    );
    assert!(answer(&json!({"type": "message"})).is_err());
    let refused =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}});
    assert_eq!(answer(&refused).unwrap_err(), "busy");
}

#[test]
fn every_stop_reason_has_its_finish_reason() {
    for (reason, finish) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("pause_turn", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
    ] {
        let body = json!({"content": [], "stop_reason": reason});
        assert_eq!(
            answer(&body).unwrap().last(),
            Some(&Event::Finish(finish)),
            "{reason}"
        );
    }
}

/// A streamed answer as the API sends it: thinking with its signature, a
/// redacted block, text, two tool calls in fragments, usage in two parts.
const STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":10,\"cache_creation_input_tokens\":5,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"enc\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \\u00e9\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"a\",\"input\":{}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":4,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"b\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"x\\\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":4,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":4}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

fn decode(stream: &str, chunk_size: usize) -> Result<Vec<Event>, String> {
    decode_in_pieces(&mut MessageDecoder::default(), stream, chunk_size)
}

#[test]
fn a_stream_decodes_the_same_whole_or_byte_by_byte() {
    let usage = |output| Usage {
        input_tokens: Some(18),
        output_tokens: Some(output),
        cache_read_tokens: Some(10),
        cache_write_tokens: Some(5),
        reasoning_tokens: None,
    };
    let expected = vec![
        Event::Usage(usage(1)),
        Event::ReasoningDelta("hm".into()),
        Event::ReasoningSignature("sig".into()),
        Event::RedactedReasoning("enc".into()),
        Event::TextDelta("Hi é".into()),
        Event::ToolCallStart {
            index: 0,
            id: "t1".into(),
            name: "a".into(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "t2".into(),
            name: "b".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"x\"".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: ":1}".into(),
        },
        Event::Usage(usage(9)),
        Event::Finish(FinishReason::ToolCalls),
    ];
    assert_eq!(decode(STREAM, STREAM.len()).unwrap(), expected);
    assert_eq!(decode(STREAM, 1).unwrap(), expected);
    assert_eq!(decode(STREAM, 7).unwrap(), expected);
}

#[test]
fn an_error_event_fails_the_stream_and_a_closed_one_knows_if_it_finished() {
    let failing = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    assert_eq!(decode(failing, 1).unwrap_err(), "Overloaded");
    assert!(decode("data: {not json\n\n", 3).is_err());
    let mut decoder = MessageDecoder::default();
    decoder
        .event(
            None,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"}}"#,
        )
        .unwrap();
    assert!(decoder.finished() && !decoder.ended());
    assert_eq!(decoder.end(), [Event::Finish(FinishReason::Length)]);
    assert!(decoder.ended() && decoder.end().is_empty());
}

#[test]
fn files_become_documents() {
    use crate::turn::File;
    let inline = |media_type: &str, data: &[u8]| {
        Part::File(File::Inline {
            media_type: media_type.into(),
            data: data.to_vec(),
            filename: Some("f".into()),
        })
    };
    let mut t = turn(json!({"messages": [{"role": "user", "content": "read"}]}));
    t.messages[0].parts.extend([
        inline("application/pdf", b"%PDF-"),
        inline("text/markdown", b"# hi"),
        inline("image/png", b"png"),
        Part::File(File::Id("file_9".into())),
    ]);
    let body = request(&t, "m", None).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "read"},
            {"type": "document", "title": "f",
             "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
            {"type": "document", "title": "f",
             "source": {"type": "text", "media_type": "text/plain", "data": "# hi"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "cG5n"}},
            {"type": "document", "source": {"type": "file", "file_id": "file_9"}}
        ])
    );
    t.messages[0].parts.push(inline("application/zip", b"PK"));
    let err = request(&t, "m", None).unwrap_err();
    assert!(err.contains("not application/zip"), "{err}");
}
