//! Events into Responses answers: the event sequence, read back by the
//! project's own Responses decoder (whole and byte by byte), the response
//! object, and failures.

use serde_json::json;

use super::*;
use crate::dialect::openai_responses::upstream::ResponseDecoder;
use crate::dialect::testing;
use crate::dialect::upstream::testing::decode_in_pieces;

fn meta() -> AnswerMeta {
    testing::meta("r1", "gpt-x")
}

fn usage() -> Usage {
    Usage {
        input_tokens: Some(20),
        output_tokens: Some(9),
        cache_read_tokens: Some(5),
        cache_write_tokens: None,
        reasoning_tokens: Some(3),
    }
}

fn answer() -> Vec<Event> {
    vec![
        Event::ReasoningDelta("think".into()),
        Event::ReasoningDelta("ing".into()),
        Event::RedactedReasoning("opaque".into()),
        Event::TextDelta("Run ".into()),
        Event::TextDelta("it.".into()),
        Event::ToolCallStart {
            index: 0,
            id: "call_a".into(),
            name: "shell".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"command\":".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "\"ls\"}".into(),
        },
        Event::Usage(usage()),
        Event::Finish(FinishReason::ToolCalls),
    ]
}

fn codec() -> ResponsesCodec {
    ResponsesCodec {
        id: "resp_r1".into(),
        ..ResponsesCodec::default()
    }
}

fn encode(events: &[Event]) -> Vec<Frame> {
    testing::encode(&codec(), meta(), events)
}

#[test]
fn the_stream_is_the_responses_event_sequence() {
    let frames = encode(&answer());
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
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
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let data: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect();
    for (n, (frame, value)) in frames.iter().zip(&data).enumerate() {
        assert_eq!(value["type"], frame.event.as_deref().unwrap());
        assert_eq!(value["sequence_number"], n);
    }
    assert_eq!(data[8]["item"]["encrypted_content"], "opaque");
    assert_eq!(data[16]["item"]["call_id"], "call_a");
    assert_eq!(data[16]["item"]["id"], "fc_r1_2");
    let done = &data[21]["response"];
    assert_eq!(done["id"], "resp_r1");
    assert_eq!(done["output"].as_array().unwrap().len(), 3);
    assert_eq!(done["output"][2]["arguments"], "{\"command\":\"ls\"}");
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 20, "input_tokens_details": {"cached_tokens": 5},
               "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 3},
               "total_tokens": 29})
    );
}

#[test]
fn the_stream_reads_back_into_the_same_events_whole_and_byte_by_byte() {
    let wire = String::from_utf8(crate::dialect::sse::encode(&encode(&answer()))).unwrap();
    let whole = decode_in_pieces(&mut ResponseDecoder::default(), &wire, wire.len()).unwrap();
    let bytewise = decode_in_pieces(&mut ResponseDecoder::default(), &wire, 1).unwrap();
    assert_eq!(whole, bytewise);
    let text: String = whole
        .iter()
        .filter_map(|e| match e {
            Event::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Run it.");
    assert!(whole.contains(&Event::RedactedReasoning("opaque".into())));
    assert!(whole.contains(&Event::ToolCallStart {
        index: 0,
        id: "call_a".into(),
        name: "shell".into()
    }));
    // (A completed response that called tools reads as a plain stop; the
    // client's encoder makes it a tool-calls finish.)
    assert!(matches!(whole.last(), Some(Event::Finish(_))), "{whole:?}");
}

#[test]
fn the_folded_response_and_a_cut_answer() {
    let mut echo = Map::new();
    echo.insert("tool_choice".into(), json!("required"));
    let codec = ResponsesCodec {
        id: "resp_r1".into(),
        previous_response_id: Some("resp_0".into()),
        store: true,
        echo,
    };
    let body = testing::fold(
        &codec,
        meta(),
        &[
            Event::TextDelta("partial".into()),
            Event::Finish(FinishReason::Length),
        ],
    );
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(body["previous_response_id"], "resp_0");
    assert_eq!(body["created_at"], 7);
    assert_eq!(body["output"][0]["content"][0]["text"], "partial");
    assert_eq!(body["tool_choice"], "required", "the request's own, echoed");
    assert_eq!(body["tools"], json!([]), "the default");
}

#[test]
fn a_failure_after_the_start_fails_the_response() {
    let mut encoder = codec().encoder(meta());
    encoder.open();
    encoder.event(&Event::TextDelta("a".into()));
    let frame = encoder.error(&Error::Internal("boom".into()));
    assert_eq!(frame.event.as_deref(), Some("response.failed"));
    let data: Value = serde_json::from_str(&frame.data).unwrap();
    assert_eq!(data["response"]["status"], "failed");
    assert_eq!(data["response"]["error"]["code"], "internal_error");
    assert_eq!(data["response"]["output"][0]["content"][0]["text"], "a");
}
