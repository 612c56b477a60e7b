//! Responses requests into turns: items, tools and parameters land in
//! their places, and the API's own fields are named.

use serde_json::{Value, json};

use super::*;
use crate::turn::Image;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dialect/responses-codex-request.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn turn(body: Value, history: Vec<Message>) -> Result<Turn, Error> {
    let mut request: ResponsesRequest = serde_json::from_value(body).unwrap();
    let input = input(request.input.take())?;
    to_turn(request, history, input, None)
}

#[test]
fn a_codex_request_keeps_every_item_in_order() {
    let t = turn(fixture(), Vec::new()).unwrap();
    assert_eq!(t.model, "gpt-5.5");
    assert!(t.stream);
    let roles: Vec<Role> = t.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::Developer,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant,
            Role::User
        ]
    );
    assert!(matches!(
        t.messages[2].parts[1],
        Part::Image(Image::Inline { .. })
    ));
    assert_eq!(
        t.messages[3].parts,
        [
            Part::Reasoning {
                text: "I should run ls.".into(),
                signature: None
            },
            Part::RedactedReasoning("gAAAA-opaque".into()),
            Part::ToolCall {
                id: "call_1".into(),
                name: "shell_command".into(),
                arguments: r#"{"command":"ls"}"#.into(),
            },
        ]
    );
    assert_eq!(t.messages[4].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(t.messages[4].text(), "a.txt\nb.txt");
    assert_eq!(
        t.messages[5].parts,
        [
            Part::Reasoning {
                text: "Two files.".into(),
                signature: None
            },
            Part::Text("Two files.".into()),
        ]
    );
}

#[test]
fn tools_and_parameters_take_their_places_and_own_fields_are_named() {
    let t = turn(fixture(), Vec::new()).unwrap();
    assert_eq!(t.tools.len(), 1);
    assert_eq!(t.tools[0].name, "shell_command");
    assert_eq!(t.tools[0].extra["strict"], false);
    assert_eq!(t.hosted_tools, [json!({"type": "web_search"})]);
    assert_eq!(t.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(t.effort, Some(Effort::High));
    assert_eq!(t.params.parallel_tool_calls, Some(false));
    assert_eq!(
        t.params.response_format,
        Some(json!({"type": "json_schema",
                    "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}}))
    );
    assert_eq!(t.params.named, ["parallel_tool_calls", "text.format"]);
    assert_eq!(t.unused, ["text.verbosity", "prompt_cache_key"]);
    assert!(t.extra.is_empty());
}

#[test]
fn history_goes_between_the_instructions_and_the_new_input() {
    let history = vec![
        Message::text_message(Role::User, "before".into()),
        Message::text_message(Role::Assistant, "answered".into()),
    ];
    let t = turn(
        json!({"model": "m", "instructions": "sys", "input": "now"}),
        history,
    )
    .unwrap();
    let texts: Vec<String> = t.messages.iter().map(Message::text).collect();
    assert_eq!(texts, ["sys", "before", "answered", "now"]);
}

#[test]
fn malformed_requests_name_the_field() {
    let cases = [
        (json!({"model": "m"}), "`input` is required"),
        (json!({"input": 5}), "`input` must be"),
        (json!({"input": [{"type": "video"}]}), "input[0].type"),
        (
            json!({"input": [{"type": "function_call", "name": "f"}]}),
            "input[0].call_id must be a string",
        ),
        (
            json!({"input": "x", "reasoning": {"effort": "huge"}}),
            "`reasoning.effort`",
        ),
        (
            json!({"input": "x", "text": {"format": {"type": "yaml"}}}),
            "`text.format.type`",
        ),
        (
            json!({"input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name must be a string",
        ),
    ];
    for (body, expected) in cases {
        let err = turn(body.clone(), Vec::new()).unwrap_err();
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }
}
