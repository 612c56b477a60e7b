//! Gemini to and from an upstream.

use serde_json::json;

use super::*;
use crate::dialect::upstream::testing::{chat_turn as turn, decode_in_pieces};

#[test]
fn the_conversation_takes_gemini_shapes() {
    let t = turn(json!({
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "use tools"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.webp?x=1"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}
            ]},
            {"role": "assistant", "content": "", "thinking_blocks": [
                {"type": "thinking", "thinking": "hm", "signature": "sig-1"}
            ], "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"ok\":true}"},
            {"role": "tool", "tool_call_id": "call_2", "content": "plain"},
            {"role": "user", "content": "and?"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "does f",
             "parameters": {"type": "object", "additionalProperties": false,
                            "properties": {"a": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "g", "parameters": {"type": "object", "properties": {}}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stop": "END", "seed": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n",
            "schema": {"type": "object", "$schema": "x", "properties": {"k": {"type": "string"}}}}}
    }));
    let body = request(&t, Some(Effort::Medium)).unwrap();
    assert_eq!(
        body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "use tools"}]},
            "contents": [
                {"role": "user", "parts": [
                    {"text": "look"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
                    {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/a.webp?x=1"}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
                ]},
                {"role": "model", "parts": [
                    {"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}, "thoughtSignature": "sig-1"},
                    {"functionCall": {"id": "call_2", "name": "g", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "call_1", "name": "f", "response": {"ok": true}}},
                    {"functionResponse": {"id": "call_2", "name": "g", "response": {"result": "plain"}}},
                    {"text": "and?"}
                ]}
            ],
            "tools": [{"functionDeclarations": [
                {"name": "f", "description": "does f",
                 "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}},
                {"name": "g"}
            ]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
            "generationConfig": {
                "maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9,
                "stopSequences": ["END"], "seed": 3,
                "thinkingConfig": {"thinkingBudget": 4096, "includeThoughts": true},
                "responseMimeType": "application/json",
                "responseSchema": {"type": "object", "properties": {"k": {"type": "string"}}}
            }
        })
    );
}

#[test]
fn a_text_answer_gets_its_signature_back_on_its_last_text_part() {
    let t = turn(json!({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "answer", "thinking_blocks": [
            {"type": "thinking", "thinking": "", "signature": "sig-t"}]},
        {"role": "user", "content": "more"}
    ]}));
    let body = request(&t, None).unwrap();
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [{"text": "answer", "thoughtSignature": "sig-t"}]})
    );
    assert!(body.get("generationConfig").is_none());
}

#[test]
fn tool_choices_map_and_orphan_results_are_refused() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
        let t = turn(json!({"messages": [{"role": "user", "content": "hi"}],
                            "tools": tools, "tool_choice": choice}));
        let body = request(&t, None).unwrap();
        assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], mode);
    }
    let t = turn(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nowhere", "content": "r"}
    ]}));
    let err = request(&t, None).unwrap_err();
    assert!(
        err.contains("`nowhere`") && err.contains("function's name"),
        "{err}"
    );
    let named = turn(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nowhere", "name": "lookup", "content": "r"}
    ]}));
    let body = request(&named, None).unwrap();
    assert_eq!(
        body["contents"][0]["parts"][1]["functionResponse"]["name"],
        "lookup"
    );
    let bad = turn(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}
    ]}));
    assert!(request(&bad, None).unwrap_err().contains("c9"));
}

fn usage() -> Usage {
    Usage {
        input_tokens: Some(20),
        output_tokens: Some(9),
        cache_read_tokens: Some(12),
        cache_write_tokens: None,
        reasoning_tokens: Some(4),
    }
}

#[test]
fn a_whole_answer_gives_thoughts_signatures_calls_and_usage() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "pondering", "thought": true},
            {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "sig"},
            {"functionCall": {"id": "g-2", "name": "b", "args": {}}}
        ]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 20, "cachedContentTokenCount": 12,
                          "candidatesTokenCount": 5, "thoughtsTokenCount": 4, "totalTokenCount": 29}
    });
    assert_eq!(
        answer(&body, "r1").unwrap(),
        [
            Event::ReasoningDelta("pondering".into()),
            Event::ReasoningSignature("sig".into()),
            Event::ToolCallStart {
                index: 0,
                id: "call_r1_0".into(),
                name: "a".into()
            },
            Event::ToolCallArguments {
                index: 0,
                fragment: "{\"x\":1}".into()
            },
            Event::ToolCallStart {
                index: 1,
                id: "g-2".into(),
                name: "b".into()
            },
            Event::ToolCallArguments {
                index: 1,
                fragment: "{}".into()
            },
            Event::Usage(usage()),
            Event::Finish(FinishReason::ToolCalls),
        ]
    );
}

#[test]
fn every_finish_reason_and_failure() {
    let ending = |reason: &str| {
        let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]});
        answer(&body, "r").map(|events| events.last().cloned())
    };
    assert_eq!(ending("STOP"), Ok(Some(Event::Finish(FinishReason::Stop))));
    assert_eq!(
        ending("MAX_TOKENS"),
        Ok(Some(Event::Finish(FinishReason::Length)))
    );
    for filtered in [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
    ] {
        assert_eq!(
            ending(filtered),
            Ok(Some(Event::Finish(FinishReason::ContentFilter)))
        );
    }
    assert!(
        ending("MALFORMED_FUNCTION_CALL")
            .unwrap_err()
            .contains("MALFORMED_FUNCTION_CALL")
    );
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
    assert_eq!(
        answer(&blocked, "r").unwrap_err(),
        "Gemini blocked the prompt (SAFETY)"
    );
    let error =
        json!({"error": {"code": 400, "message": "bad model", "status": "INVALID_ARGUMENT"}});
    assert_eq!(answer(&error, "r").unwrap_err(), "bad model");
    assert!(answer(&json!({"candidates": []}), "r").is_err());
}

/// A stream as the API sends it with `alt=sse`, CRLF-framed: thoughts,
/// text in pieces, a signed call, usage on the last chunk.
fn stream() -> String {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hm", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi "}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "é"}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "sig"}]},
            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "cachedContentTokenCount": 12,
                              "candidatesTokenCount": 5, "thoughtsTokenCount": 4}}),
    ];
    chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect()
}

fn decode(stream: &str, chunk_size: usize) -> Vec<Event> {
    let mut decoder = ContentDecoder::new("r1");
    let mut events = decode_in_pieces(&mut decoder, stream, chunk_size).unwrap();
    assert!(decoder.finished());
    events.extend(decoder.end());
    assert!(decoder.end().is_empty());
    events
}

#[test]
fn a_stream_decodes_the_same_whole_or_byte_by_byte() {
    let expected = vec![
        Event::ReasoningDelta("hm".into()),
        Event::TextDelta("Hi ".into()),
        Event::TextDelta("é".into()),
        Event::ReasoningSignature("sig".into()),
        Event::ToolCallStart {
            index: 0,
            id: "call_r1_0".into(),
            name: "a".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"x\":1}".into(),
        },
        Event::Usage(usage()),
        Event::Finish(FinishReason::ToolCalls),
    ];
    let stream = stream();
    assert_eq!(decode(&stream, stream.len()), expected);
    assert_eq!(decode(&stream, 1), expected);
    assert_eq!(decode(&stream, 6), expected);
}
