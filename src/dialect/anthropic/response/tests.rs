//! Events into Messages answers: the event sequence, read back by the
//! project's own Anthropic decoder (whole and byte by byte), the folded
//! message, and the error envelope.

use serde_json::json;

use super::*;
use crate::dialect::anthropic::upstream::MessageDecoder;
use crate::dialect::testing;
use crate::dialect::upstream::testing::decode_in_pieces;

fn meta() -> AnswerMeta {
    testing::meta("req-1", "claude-x")
}

fn usage() -> Usage {
    Usage {
        input_tokens: Some(30),
        output_tokens: Some(7),
        cache_read_tokens: Some(10),
        cache_write_tokens: Some(5),
        reasoning_tokens: None,
    }
}

/// Reasoning with its signature, text, two tool calls, usage.
fn answer() -> Vec<Event> {
    vec![
        Event::Usage(Usage {
            input_tokens: Some(30),
            cache_read_tokens: Some(10),
            cache_write_tokens: Some(5),
            ..Usage::default()
        }),
        Event::ReasoningDelta("let me ".into()),
        Event::ReasoningDelta("think".into()),
        Event::ReasoningSignature("sig".into()),
        Event::RedactedReasoning("opaque".into()),
        Event::TextDelta("I'll run ".into()),
        Event::TextDelta("two tools.".into()),
        Event::ToolCallStart {
            index: 0,
            id: "toolu_a".into(),
            name: "Bash".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"command\":".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "\"ls\"}".into(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "toolu_b".into(),
            name: "Read".into(),
        },
        Event::ToolCallArguments {
            index: 1,
            fragment: "{\"path\":\"a\"}".into(),
        },
        Event::Usage(usage()),
        Event::Finish(FinishReason::ToolCalls),
    ]
}

fn encode(events: &[Event]) -> Vec<Frame> {
    testing::encode(&MessagesCodec, meta(), events)
}

fn fold(events: &[Event]) -> Value {
    testing::fold(&MessagesCodec, meta(), events)
}

#[test]
fn the_stream_is_anthropics_event_sequence() {
    let frames = encode(&answer());
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start", // thinking
            "content_block_delta",
            "content_block_delta",
            "content_block_delta", // signature
            "content_block_stop",
            "content_block_start", // redacted
            "content_block_stop",
            "content_block_start", // text
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start", // tool a
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start", // tool b
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let data: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect();
    for (frame, value) in frames.iter().zip(&data) {
        assert_eq!(value["type"], frame.event.as_deref().unwrap());
    }
    assert_eq!(
        data[0]["message"]["usage"],
        json!({"input_tokens": 15, "cache_read_input_tokens": 10,
               "cache_creation_input_tokens": 5, "output_tokens": 0})
    );
    assert_eq!(data[0]["message"]["id"], "msg_req_1");
    assert_eq!(
        data[6]["content_block"],
        json!({"type": "redacted_thinking", "data": "opaque"})
    );
    assert_eq!(data[12]["index"], 3);
    assert_eq!(
        data[12]["content_block"],
        json!({"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": {}})
    );
    assert_eq!(data[19]["delta"]["stop_reason"], "tool_use");
    assert_eq!(data[19]["usage"]["output_tokens"], 7);
}

#[test]
fn the_stream_reads_back_into_the_same_events_whole_and_byte_by_byte() {
    let wire = String::from_utf8(crate::dialect::sse::encode(&encode(&answer()))).unwrap();
    let whole = decode_in_pieces(&mut MessageDecoder::default(), &wire, wire.len()).unwrap();
    let bytewise = decode_in_pieces(&mut MessageDecoder::default(), &wire, 1).unwrap();
    assert_eq!(whole, bytewise);
    // The same content, and usage in OpenAI's terms again.
    let content: Vec<&Event> = whole
        .iter()
        .filter(|e| !matches!(e, Event::Usage(_)))
        .collect();
    let expected: Vec<Event> = answer()
        .into_iter()
        .filter(|e| !matches!(e, Event::Usage(_)))
        .collect();
    assert_eq!(content, expected.iter().collect::<Vec<_>>());
    assert_eq!(
        whole.iter().rev().find_map(|e| match e {
            Event::Usage(u) => Some(*u),
            _ => None,
        }),
        Some(usage())
    );
}

#[test]
fn interleaved_tool_arguments_reach_their_own_block() {
    let frames = encode(&[
        Event::ToolCallStart {
            index: 0,
            id: "a".into(),
            name: "f".into(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "b".into(),
            name: "g".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{}".into(),
        },
        Event::Finish(FinishReason::Stop),
    ]);
    let late: Value = serde_json::from_str(&frames[4].data).unwrap();
    assert_eq!(late["type"], "content_block_delta");
    assert_eq!(late["index"], 0);
    let delta: Value = serde_json::from_str(&frames[frames.len() - 2].data).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[test]
fn the_folded_message_has_every_block() {
    assert_eq!(
        fold(&answer()),
        json!({
            "id": "msg_req_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "let me think", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "I'll run two tools."},
                {"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {"path": "a"}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 15, "cache_read_input_tokens": 10,
                      "cache_creation_input_tokens": 5, "output_tokens": 7},
        })
    );
}

#[test]
fn stop_reasons_and_unsigned_reasoning() {
    let body = fold(&[
        Event::ReasoningDelta("hmm".into()),
        Event::TextDelta("cut".into()),
        Event::Finish(FinishReason::Length),
    ]);
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(
        body["content"][0],
        json!({"type": "thinking", "thinking": "hmm", "signature": ""})
    );
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 0, "output_tokens": 0})
    );
    assert_eq!(stop_reason(FinishReason::ContentFilter, false), "refusal");
    assert_eq!(stop_reason(FinishReason::Stop, false), "end_turn");
}

#[test]
fn a_silent_stream_pings_only_after_its_start() {
    let mut encoder = MessagesCodec.encoder(meta());
    assert!(
        encoder.keepalive().is_empty(),
        "a comment before message_start"
    );
    encoder.event(&Event::TextDelta("a".into()));
    let ping = encoder.keepalive();
    assert_eq!(ping.len(), 1);
    assert_eq!(ping[0].event.as_deref(), Some("ping"));
    assert_eq!(ping[0].data, r#"{"type":"ping"}"#);
}

#[test]
fn errors_take_anthropics_envelope() {
    let body = error_body(&Error::Busy {
        backend: "b".into(),
        detail: "queue full".into(),
        retry_after_secs: 2,
    });
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let body = error_body(&Error::TooLarge("big".into()));
    assert_eq!(body["error"]["type"], "request_too_large");
    let body = error_body(&Error::Unauthorized);
    assert_eq!(body["error"]["type"], "authentication_error");
    let frame = MessagesCodec
        .encoder(meta())
        .error(&Error::Internal("boom".into()));
    assert_eq!(frame.event.as_deref(), Some("error"));
    let data: Value = serde_json::from_str(&frame.data).unwrap();
    assert_eq!(data["error"]["type"], "api_error");
}

#[test]
fn a_stop_sequence_is_named_and_read_back() {
    let events = [
        Event::TextDelta("one two".into()),
        Event::StopSequence("END".into()),
        Event::Finish(FinishReason::Stop),
    ];
    let frames = encode(&events);
    let delta: Value = serde_json::from_str(&frames[frames.len() - 2].data).unwrap();
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "stop_sequence", "stop_sequence": "END"})
    );
    let wire = String::from_utf8(crate::dialect::sse::encode(&frames)).unwrap();
    let mut read = decode_in_pieces(&mut MessageDecoder::default(), &wire, 1).unwrap();
    read.retain(|e| !matches!(e, Event::Usage(_)));
    assert_eq!(read, events);
    let body = fold(&events);
    assert_eq!(body["stop_reason"], "stop_sequence");
    assert_eq!(body["stop_sequence"], "END");
}
