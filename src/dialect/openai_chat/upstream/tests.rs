//! Chat Completions to and from an upstream.

use serde_json::json;

use super::*;
use crate::dialect::upstream::error_message;
use crate::dialect::upstream::testing::{chat_turn as turn, decode_in_pieces};

#[test]
fn the_request_keeps_what_the_client_sent() {
    let t = turn(json!({
        "model": "openai:gpt-x",
        "stream": true,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "strict": true,
                   "parameters": {"type": "object"}}}, {"type": "web_search"}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "max_completion_tokens": 9,
        "temperature": 0.5,
        "stop": ["x"],
        "metadata": {"k": "v"},
        "logprobs": true
    }));
    let body = request(&t, "gpt-x", Some(Effort::High));
    assert_eq!(body["model"], "gpt-x");
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["max_completion_tokens"], 9);
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["stop"], json!(["x"]));
    assert_eq!(body["metadata"], json!({"k": "v"}));
    assert_eq!(body["logprobs"], true);
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "function": {"name": "f", "strict": true, "parameters": {"type": "object"}}})
    );
    assert_eq!(body["tools"][1], json!({"type": "web_search"}), "as sent");
    assert_eq!(body["tool_choice"]["function"]["name"], "f");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(
        messages[1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw=="
    );
    assert_eq!(messages[2]["content"], Value::Null);
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":1}"
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "42"})
    );
}

#[test]
fn tool_results_inside_a_message_become_tool_messages() {
    let mut t = Turn::default();
    t.messages.push(Message {
        role: Role::User,
        parts: vec![
            Part::ToolResult {
                id: "toolu_1".into(),
                content: vec![Part::Text("sunny".into())],
                is_error: false,
            },
            Part::Text("thanks".into()),
        ],
        tool_call_id: None,
        name: None,
        extra: Map::new(),
    });
    let body = request(&t, "m", None);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "user", "content": "thanks"}
        ])
    );
}

/// A streamed answer with reasoning, text, two parallel tool calls in
/// fragments, a finish reason and a usage chunk after it.
const STREAM: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"type\":\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"\"}},{\"index\":1,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"b\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}},{\"index\":1,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":4,\"prompt_tokens_details\":{\"cached_tokens\":6},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\n",
    "data: [DONE]\n\n"
);

fn decode(chunk_size: usize) -> Vec<Event> {
    decode_in_pieces(&mut ChunkDecoder::default(), STREAM, chunk_size).unwrap()
}

#[test]
fn a_stream_decodes_the_same_whole_and_byte_by_byte() {
    let events = decode(STREAM.len());
    assert_eq!(
        events,
        [
            Event::ReasoningDelta("hmm".into()),
            Event::TextDelta("Hi".into()),
            Event::ToolCallStart {
                index: 0,
                id: "c0".into(),
                name: "a".into()
            },
            Event::ToolCallStart {
                index: 1,
                id: "c1".into(),
                name: "b".into()
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "{\"x\"".into()
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "{}".into()
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: ":1}".into()
            },
            Event::Usage(Usage {
                input_tokens: Some(10),
                output_tokens: Some(4),
                cache_read_tokens: Some(6),
                cache_write_tokens: None,
                reasoning_tokens: Some(2),
            }),
            Event::Finish(FinishReason::ToolCalls),
        ]
    );
    assert_eq!(decode(1), events);
}

#[test]
fn a_whole_answer_and_every_finish_reason() {
    let body = json!({
        "choices": [{"index": 0, "finish_reason": "length",
                     "message": {"role": "assistant", "content": "cut", "reasoning": "r"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}
    });
    let events = answer(&body).unwrap();
    assert_eq!(events[0], Event::ReasoningDelta("r".into()));
    assert_eq!(events[1], Event::TextDelta("cut".into()));
    assert_eq!(events.last(), Some(&Event::Finish(FinishReason::Length)));
    for (wire, reason) in [
        ("stop", FinishReason::Stop),
        ("tool_calls", FinishReason::ToolCalls),
        ("content_filter", FinishReason::ContentFilter),
    ] {
        let body = json!({"choices": [{"finish_reason": wire, "message": {"content": "x"}}]});
        assert_eq!(answer(&body).unwrap().last(), Some(&Event::Finish(reason)));
    }
    assert!(answer(&json!({"object": "list"})).is_err());
}

#[test]
fn errors_in_a_stream_and_error_bodies_give_their_message() {
    let mut chunks = ChunkDecoder::default();
    assert_eq!(
        chunks.event(
            None,
            r#"{"error": {"message": "overloaded", "type": "server_error"}}"#
        ),
        Err("overloaded".to_owned())
    );
    assert!(chunks.event(None, "not json").is_err());
    assert_eq!(
        error_message(br#"{"error": {"message": "bad key"}}"#),
        "bad key"
    );
    assert_eq!(
        error_message(br#"{"type": "error", "error": {"type": "x", "message": "anthropic says"}}"#),
        "anthropic says"
    );
    assert_eq!(error_message(b"plain text\n"), "plain text");
    assert!(chunks.end().len() == 1 && chunks.end().is_empty());
}

#[test]
fn files_and_thinking_blocks_go_back_as_the_client_sent_them() {
    let sent = json!({"messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "read"},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "file", "file": {"file_id": "file-1"}}
        ]},
        {"role": "assistant", "content": "ok", "thinking_blocks": [
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "redacted_thinking", "data": "enc"}
        ]}
    ]});
    let body = request(&turn(sent.clone()), "m", None);
    assert_eq!(
        body["messages"][0]["content"],
        sent["messages"][0]["content"]
    );
    assert_eq!(
        body["messages"][1]["thinking_blocks"],
        sent["messages"][1]["thinking_blocks"]
    );
}

#[test]
fn plain_chunks_and_others_read_the_same_as_a_tree() {
    let chunks = [
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","tool_calls":null,"refusal":null}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hm"},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"a\"b"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
    ];
    let mut decoder = ChunkDecoder::default();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(decoder.event(None, chunk).unwrap());
    }
    events.extend(decoder.end());
    assert_eq!(
        events,
        [
            Event::ReasoningDelta("hm".into()),
            Event::TextDelta("a\"b".into()),
            Event::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "f".into()
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "{}".into()
            },
            Event::Usage(Usage {
                input_tokens: Some(3),
                output_tokens: Some(2),
                ..Usage::default()
            }),
            Event::Finish(FinishReason::Length),
        ]
    );
}
