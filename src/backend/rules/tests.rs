//! The built-in presets' output rules applied to real CLI transcripts.

use super::*;
use crate::backend::decode::{Decoder, ReportedError};
use crate::config::source::PresetLibrary;
use crate::event::Event;

/// What a whole transcript decodes to.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    text: String,
    reasoning: String,
    session: Option<String>,
    usage: Usage,
    error: Option<ReportedError>,
    terminal: bool,
}

fn rules_of(preset: &str, backend: &str) -> OutputRules {
    let source = PresetLibrary::default().get(preset).unwrap();
    let (raw, _) = source.parse().unwrap();
    OutputRules::compile(raw.backends[backend].output.as_deref().unwrap()).unwrap()
}

fn decode(rules: &OutputRules, fixture: &str) -> Outcome {
    let path = format!(
        "{}/tests/fixtures/cli/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut decoder = Decoder::default();
    let mut out = Outcome::default();
    for line in text.lines() {
        for event in decoder.line(rules, line) {
            match event {
                Event::TextDelta(t) => out.text.push_str(&t),
                Event::ReasoningDelta(t) => out.reasoning.push_str(&t),
                Event::Session(s) => out.session = Some(s),
                other => panic!("unexpected event from a line: {other:?}"),
            }
        }
    }
    out.usage = decoder.usage();
    out.error = decoder.error().cloned();
    out.terminal = decoder.terminal();
    out
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
        ..Usage::default()
    }
}

#[test]
fn claude_streams_text_and_thinking_deltas() {
    let out = decode(
        &rules_of("claude", "claude"),
        "claude-stream-json-partial-thinking.jsonl",
    );
    assert_eq!(out.text, "hello from fake upstream");
    assert_eq!(out.reasoning, "fake reasoning about the request");
    assert_eq!(
        out.session.as_deref(),
        Some("c05c7c0d-f39c-420a-a4fd-15e22fa8eda6")
    );
    assert_eq!(
        out.usage,
        Usage {
            cache_read_tokens: Some(0),
            cache_write_tokens: Some(0),
            ..usage(12, 5)
        }
    );
    assert!(out.terminal && out.error.is_none());
}

#[test]
fn claude_api_errors_carry_their_status() {
    let out = decode(
        &rules_of("claude", "claude"),
        "claude-stream-json-error-400.jsonl",
    );
    assert_eq!(
        out.error,
        Some(ReportedError {
            message: "API Error: 400 fake upstream rejected the request (FAIL_400 marker)".into(),
            status: Some(400),
        })
    );
    assert!(out.terminal);
    assert_eq!(
        out.text, "",
        "the synthetic assistant message must not become answer text"
    );
}

#[test]
fn codex_items_become_text_reasoning_and_usage() {
    let rules = rules_of("codex", "codex");
    let plain = decode(&rules, "codex-exec-json.jsonl");
    assert_eq!(plain.text, "hello from fake upstream");
    assert_eq!(
        plain.session.as_deref(),
        Some("01a21347-349a-7391-be5b-82e7864fde42")
    );
    assert_eq!(
        plain.usage,
        Usage {
            cache_read_tokens: Some(0),
            cache_write_tokens: Some(0),
            reasoning_tokens: Some(0),
            ..usage(12, 5)
        }
    );
    assert!(plain.terminal && plain.error.is_none());

    let thinking = decode(&rules, "codex-exec-json-reasoning.jsonl");
    assert_eq!(thinking.reasoning, "fake reasoning about the request");
    assert_eq!(thinking.text, "hello from fake upstream");
    assert_eq!(thinking.usage.reasoning_tokens, Some(2));

    let tool = decode(&rules, "codex-exec-json-tool.jsonl");
    assert_eq!(tool.text, "tool result seen: tool-ok");
}

#[test]
fn codex_turn_failure_is_the_error_and_error_events_are_warnings() {
    let out = decode(
        &rules_of("codex", "codex"),
        "codex-exec-json-error-400.jsonl",
    );
    let error = out.error.unwrap();
    assert!(
        error.message.contains("FAIL_400 marker"),
        "{}",
        error.message
    );
    assert_eq!(crate::error::status_in_message(&error.message), Some(400));
    assert!(out.terminal);
}

#[test]
fn gemini_deltas_concatenate_and_errors_fail() {
    let rules = rules_of("gemini", "gemini");
    let out = decode(&rules, "gemini-stream-json.jsonl");
    assert_eq!(out.text, "hello from fake upstream");
    assert_eq!(
        out.usage,
        Usage {
            cache_read_tokens: Some(0),
            ..usage(12, 5)
        }
    );
    assert!(out.terminal && out.error.is_none());
    assert_eq!(
        decode(&rules, "gemini-stream-json-tool.jsonl").text,
        "tool result seen: tool-ok"
    );
    let failed = decode(&rules, "gemini-stream-json-error-400.jsonl");
    assert!(failed.error.unwrap().message.contains("FAIL_400 marker"));
    assert!(failed.terminal);
}

#[test]
fn cursor_partial_output_skips_duplicates_and_completes_from_the_result() {
    let rules = rules_of("cursor-agent", "cursor-agent");
    let out = decode(&rules, "cursor-stream-json.jsonl");
    assert_eq!(out.text, "hello from fake upstream");
    assert_eq!(out.reasoning, "fake reasoning about the request");
    assert!(out.terminal && out.error.is_none());
    let truncated = decode(&rules, "cursor-stream-json-truncated.jsonl");
    assert_eq!(truncated.text, "hello from fake upstream");
    let failed = decode(&rules, "cursor-stream-json-error.jsonl");
    assert_eq!(failed.text, "", "an error result is not answer text");
    let error = failed.error.unwrap();
    assert_eq!(crate::error::status_in_message(&error.message), Some(429));
}

#[test]
fn separators_only_go_between_texts() {
    let rules = OutputRules::compile(&[RawRule {
        when: Some([("/t".to_owned(), serde_json::json!("m"))].into()),
        separator: Some("\n\n".into()),
        text: Some("/x".into()),
        ..RawRule::default()
    }])
    .unwrap();
    let mut decoder = Decoder::default();
    let mut text = String::new();
    for line in [
        r#"{"t":"m","x":"one"}"#,
        r#"{"t":"other"}"#,
        r#"{"t":"m","x":"two"}"#,
    ] {
        for event in decoder.line(&rules, line) {
            if let Event::TextDelta(t) = event {
                text.push_str(&t);
            }
        }
    }
    assert_eq!(text, "one\n\ntwo");
}

#[test]
fn rule_mistakes_are_reported_where_they_are() {
    let err = OutputRules::compile(&[
        RawRule {
            text: Some("/ok".into()),
            ..RawRule::default()
        },
        RawRule {
            text: Some("message/text".into()),
            ..RawRule::default()
        },
    ])
    .unwrap_err();
    assert_eq!(err.at.to_string(), "[1].text");
    assert!(err.message.contains("not a JSON pointer"));
    let nothing = OutputRules::compile(&[RawRule::default()]).unwrap_err();
    assert!(nothing.message.contains("extracts nothing"));
}
