//! The Responses API to and from an upstream.

use serde_json::json;

use super::*;
use crate::dialect::upstream::testing::{chat_turn as turn, decode_in_pieces};

#[test]
fn the_conversation_becomes_instructions_and_input_items() {
    let t = turn(json!({
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "use tools"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                {"type": "file", "file": {"file_id": "file-1"}}
            ]},
            {"role": "assistant", "content": "calling", "thinking_blocks": [
                {"type": "redacted_thinking", "data": "enc=="},
                {"type": "thinking", "thinking": "signed", "signature": "s"}
            ], "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "system", "content": "now answer"},
            {"role": "user", "content": "and?"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "does f",
                   "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": false,
        "max_completion_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "u-1",
        "stream": true
    }));
    let body = request(&t, "gpt-x", Some(Effort::Max)).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "gpt-x",
            "instructions": "be brief\n\nuse tools",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw=="},
                    {"type": "input_file", "file_id": "file-1"}
                ]},
                {"type": "reasoning", "encrypted_content": "enc==", "summary": []},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
                {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "now answer"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and?"}]}
            ],
            "store": false,
            "stream": true,
            "reasoning": {"effort": "xhigh", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "tools": [{"type": "function", "name": "f", "description": "does f",
                       "parameters": {"type": "object"}, "strict": true}],
            "tool_choice": {"type": "function", "name": "f"},
            "max_output_tokens": 50,
            "temperature": 0.5,
            "top_p": 0.9,
            "user": "u-1",
            "parallel_tool_calls": false
        })
    );
}

#[test]
fn response_formats_take_the_text_format_shape() {
    let with = |format: Value| {
        let t = turn(json!({"messages": [{"role": "user", "content": "hi"}],
                            "response_format": format}));
        request(&t, "m", None).unwrap()["text"].clone()
    };
    assert_eq!(
        with(
            json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": true}})
        ),
        json!({"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}, "strict": true}})
    );
    assert_eq!(
        with(json!({"type": "json_object"})),
        json!({"format": {"type": "json_object"}})
    );
    for (choice, wire) in [("auto", "auto"), ("none", "none"), ("required", "required")] {
        let t =
            turn(json!({"messages": [{"role": "user", "content": "hi"}], "tool_choice": choice}));
        assert_eq!(request(&t, "m", None).unwrap()["tool_choice"], wire);
    }
    let t = turn(json!({"messages": [{"role": "user", "content": "hi"}]}));
    let body = request(&t, "m", None).unwrap();
    assert!(body.get("reasoning").is_none() && body.get("include").is_none());
    assert!(body.get("instructions").is_none() && body.get("stream").is_none());
}

fn usage(reasoning: u64) -> Usage {
    Usage {
        input_tokens: Some(20),
        output_tokens: Some(9),
        cache_read_tokens: Some(12),
        cache_write_tokens: None,
        reasoning_tokens: Some(reasoning),
    }
}

#[test]
fn a_whole_response_gives_reasoning_text_calls_and_usage() {
    let body = json!({
        "object": "response", "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs_1", "encrypted_content": "enc",
             "summary": [{"type": "summary_text", "text": "first"}, {"type": "summary_text", "text": "second"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{\"x\":1}"},
            {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{}"},
            {"type": "web_search_call", "id": "ws_1"}
        ],
        "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 12},
                  "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}}
    });
    assert_eq!(
        answer(&body).unwrap(),
        [
            Event::ReasoningDelta("first\n\nsecond".into()),
            Event::RedactedReasoning("enc".into()),
            Event::TextDelta("Hi".into()),
            Event::ToolCallStart {
                index: 0,
                id: "c1".into(),
                name: "a".into()
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "{\"x\":1}".into()
            },
            Event::ToolCallStart {
                index: 1,
                id: "c2".into(),
                name: "b".into()
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "{}".into()
            },
            Event::Usage(usage(4)),
            Event::Finish(FinishReason::Stop),
        ]
    );
}

#[test]
fn every_ending_has_its_finish_reason_or_error() {
    let ending = |body: Value| answer(&body).map(|events| events.last().cloned());
    assert_eq!(
        ending(
            json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []})
        ),
        Ok(Some(Event::Finish(FinishReason::Length)))
    );
    assert_eq!(
        ending(
            json!({"status": "incomplete", "incomplete_details": {"reason": "content_filter"}, "output": []})
        ),
        Ok(Some(Event::Finish(FinishReason::ContentFilter)))
    );
    assert_eq!(
        ending(json!({"status": "completed", "output": [
            {"type": "message", "content": [{"type": "refusal", "refusal": "no"}]}]})),
        Ok(Some(Event::Finish(FinishReason::ContentFilter)))
    );
    assert_eq!(
        ending(json!({"status": "failed", "error": {"code": "server_error", "message": "boom"}})),
        Err("boom".into())
    );
    assert!(answer(&json!({"object": "response"})).is_err());
}

/// A stream as the API sends it: a reasoning item with two summary parts
/// and encrypted content, text, and two interleaved function calls.
fn stream() -> String {
    let events = [
        json!({"type": "response.created", "response": {"status": "in_progress"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "summary": []}}),
        json!({"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": 0}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "fir"}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "st"}),
        json!({"type": "response.reasoning_summary_part.added", "output_index": 0, "summary_index": 1}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 1, "delta": "second"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "encrypted_content": "enc",
               "summary": [{"type": "summary_text", "text": "first"}]}}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "content": []}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "Hi é"}),
        json!({"type": "response.output_text.done", "output_index": 1, "content_index": 0, "text": "Hi é"}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "call_id": "c1", "name": "a", "arguments": ""}}),
        json!({"type": "response.output_item.added", "output_index": 3, "item": {"type": "function_call", "call_id": "c2", "name": "b", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "{\"x\""}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 3, "delta": "{}"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": ":1}"}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{\"x\":1}"}}),
        json!({"type": "response.output_item.done", "output_index": 3, "item": {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{}"}}),
        json!({"type": "response.completed", "response": {"status": "completed", "usage": {
            "input_tokens": 20, "input_tokens_details": {"cached_tokens": 12},
            "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}}}}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

fn decode(stream: &str, chunk_size: usize) -> Result<Vec<Event>, String> {
    decode_in_pieces(&mut ResponseDecoder::default(), stream, chunk_size)
}

#[test]
fn a_stream_decodes_the_same_whole_or_byte_by_byte() {
    let expected = vec![
        Event::ReasoningDelta("fir".into()),
        Event::ReasoningDelta("st".into()),
        Event::ReasoningDelta("\n\n".into()),
        Event::ReasoningDelta("second".into()),
        Event::RedactedReasoning("enc".into()),
        Event::TextDelta("Hi é".into()),
        Event::ToolCallStart {
            index: 0,
            id: "c1".into(),
            name: "a".into(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "c2".into(),
            name: "b".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"x\"".into(),
        },
        Event::ToolCallArguments {
            index: 1,
            fragment: "{}".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: ":1}".into(),
        },
        Event::Usage(usage(4)),
        Event::Finish(FinishReason::Stop),
    ];
    let stream = stream();
    assert_eq!(decode(&stream, stream.len()).unwrap(), expected);
    assert_eq!(decode(&stream, 1).unwrap(), expected);
    assert_eq!(decode(&stream, 5).unwrap(), expected);
}

#[test]
fn arguments_sent_only_whole_still_arrive_and_failures_are_errors() {
    let mut decoder = ResponseDecoder::default();
    let added = json!({"type": "response.output_item.added", "output_index": 0,
                       "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}});
    let done = json!({"type": "response.output_item.done", "output_index": 0,
                      "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"q\":2}"}});
    decoder.event(None, &added.to_string()).unwrap();
    assert_eq!(
        decoder.event(None, &done.to_string()).unwrap(),
        [Event::ToolCallArguments {
            index: 0,
            fragment: "{\"q\":2}".into()
        }]
    );
    let incomplete = json!({"type": "response.incomplete", "response": {"status": "incomplete",
                            "incomplete_details": {"reason": "max_output_tokens"}}});
    assert_eq!(
        decoder.event(None, &incomplete.to_string()).unwrap(),
        [Event::Finish(FinishReason::Length)]
    );
    assert!(decoder.finished() && decoder.ended());

    let failed = json!({"type": "response.failed", "response": {"status": "failed",
                        "error": {"code": "rate_limit_exceeded", "message": "slow down"}}});
    assert_eq!(
        ResponseDecoder::default().event(None, &failed.to_string()),
        Err("slow down".into())
    );
    let error = json!({"type": "error", "code": "x", "message": "bad"});
    assert_eq!(
        ResponseDecoder::default().event(None, &error.to_string()),
        Err("bad".into())
    );
    assert!(ResponseDecoder::default().event(None, "{oops").is_err());
}

#[test]
fn images_of_a_tool_result_follow_it_as_a_user_message() {
    let t = turn(json!({"messages": [
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [
            {"type": "text", "text": "taken"},
            {"type": "image_url", "image_url": {"url": "https://example.com/s.png"}}]}
    ]}));
    let input = request(&t, "m", None).unwrap()["input"].clone();
    assert_eq!(
        input[2],
        json!({"type": "function_call_output", "call_id": "c1", "output": "taken"})
    );
    assert_eq!(
        input[3],
        json!({"type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/s.png"}]})
    );
}

#[test]
fn a_generated_image_is_answer_text_whole_or_streamed() {
    let image = json!({"type": "image_generation_call", "id": "ig_1", "status": "completed",
        "result": "iVBORw0KGgo=", "output_format": "webp", "revised_prompt": "A [red] cat\nsitting"});
    let body = json!({"status": "completed", "output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Here:"}]},
        image.clone(),
        {"type": "image_generation_call", "id": "ig_2", "status": "failed", "result": null}]});
    let expected = "\n\n![A red catsitting](data:image/webp;base64,iVBORw0KGgo=)\n\n";
    assert_eq!(
        answer(&body).unwrap()[..2],
        [
            Event::TextDelta("Here:".into()),
            Event::TextDelta(expected.into())
        ]
    );
    let mut decoder = ResponseDecoder::default();
    let done = json!({"type": "response.output_item.done", "output_index": 1, "item": image});
    assert_eq!(
        decoder
            .event(Some("response.output_item.done"), &done.to_string())
            .unwrap(),
        [Event::TextDelta(expected.into())]
    );
}
