//! Events into Gemini answers: chunks read back by the project's own
//! Gemini decoder (whole and byte by byte), the whole response, and the
//! error envelope.

use serde_json::json;

use super::*;
use crate::dialect::gemini::upstream::ContentDecoder;
use crate::dialect::testing;
use crate::dialect::upstream::StreamDecoder as _;
use crate::dialect::upstream::testing::decode_in_pieces;

fn meta() -> AnswerMeta {
    testing::meta("r1", "gem:x")
}

fn answer() -> Vec<Event> {
    vec![
        Event::ReasoningDelta("hmm".into()),
        Event::ReasoningSignature("sig".into()),
        Event::TextDelta("Run ".into()),
        Event::TextDelta("it.".into()),
        Event::ToolCallStart {
            index: 0,
            id: "c1".into(),
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
        Event::Usage(Usage {
            input_tokens: Some(10),
            output_tokens: Some(8),
            cache_read_tokens: Some(2),
            cache_write_tokens: None,
            reasoning_tokens: Some(3),
        }),
        Event::Finish(FinishReason::ToolCalls),
    ]
}

fn encode(codec: GeminiCodec, events: &[Event]) -> Vec<Frame> {
    testing::encode(&codec, meta(), events)
}

const SSE: GeminiCodec = GeminiCodec {
    include_thoughts: true,
    framing: Framing::Sse,
};

#[test]
fn chunks_carry_parts_signatures_and_whole_calls() {
    let frames = encode(SSE, &answer());
    let chunks: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect();
    let parts: Vec<Value> = chunks
        .iter()
        .map(|c| c["candidates"][0]["content"]["parts"][0].clone())
        .collect();
    assert_eq!(
        parts,
        [
            json!({"text": "hmm", "thought": true}),
            json!({"text": "Run ", "thoughtSignature": "sig"}),
            json!({"text": "it."}),
            json!({"functionCall": {"id": "c1", "name": "shell", "args": {"command": "ls"}}}),
        ]
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"],
        json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 18,
               "cachedContentTokenCount": 2, "thoughtsTokenCount": 3})
    );
    assert!(frames.iter().all(|f| f.event.is_none()));
}

#[test]
fn the_stream_reads_back_into_the_same_events_whole_and_byte_by_byte() {
    let wire = String::from_utf8(crate::dialect::sse::encode(&encode(SSE, &answer()))).unwrap();
    let read = |size: usize| {
        let mut decoder = ContentDecoder::new("r1");
        let mut events = decode_in_pieces(&mut decoder, &wire, size).unwrap();
        events.extend(decoder.end());
        events
    };
    let whole = read(wire.len());
    assert_eq!(whole, read(1));
    // The same events, a call's arguments whole, usage in OpenAI's terms.
    let mut expected: Vec<Event> = answer();
    expected.splice(
        5..7,
        [Event::ToolCallArguments {
            index: 0,
            fragment: "{\"command\":\"ls\"}".into(),
        }],
    );
    assert_eq!(whole, expected);
}

#[test]
fn the_whole_response_merges_text_and_hides_unasked_thoughts() {
    let codec = GeminiCodec {
        include_thoughts: false,
        framing: Framing::JsonArray,
    };
    let body = testing::fold(&codec, meta(), &answer());
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([
            {"text": "Run ", "thoughtSignature": "sig"},
            {"text": "it."},
            {"functionCall": {"id": "c1", "name": "shell", "args": {"command": "ls"}}},
        ])
    );
    assert_eq!(body["modelVersion"], "gem:x");
    let body = testing::fold(
        &codec,
        meta(),
        &[
            Event::TextDelta("a".into()),
            Event::TextDelta("b".into()),
            Event::Finish(FinishReason::Length),
        ],
    );
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{"text": "ab"}])
    );
    assert_eq!(body["candidates"][0]["finishReason"], "MAX_TOKENS");
}

#[test]
fn errors_take_googles_envelope() {
    let body = error_body(&Error::Unauthorized);
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    let body = error_body(&Error::Busy {
        backend: "b".into(),
        detail: "full".into(),
        retry_after_secs: 1,
    });
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
}
