//! Messages requests into turns: every block, tool and parameter lands in
//! its place, and what has none is kept or named.

use serde_json::{Value, json};

use super::*;

fn turn(body: Value) -> Result<Turn, Error> {
    to_turn(serde_json::from_value(body).unwrap(), None)
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dialect/anthropic-claude-code-request.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_claude_code_request_keeps_every_block_in_order() {
    let t = turn(fixture()).unwrap();
    assert_eq!(t.model, "claude-sonnet-4-5");
    assert!(t.stream);
    let roles: Vec<Role> = t.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::System,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    assert_eq!(t.messages[1].text(), "You are Claude Code.");
    assert_eq!(
        t.messages[3].parts,
        [
            Part::Reasoning {
                text: "I should run ls.".into(),
                signature: Some("sig-1".into())
            },
            Part::RedactedReasoning("opaque-1".into()),
            Part::Text("Running ls.".into()),
            Part::ToolCall {
                id: "toolu_01".into(),
                name: "Bash".into(),
                arguments: r#"{"command":"ls","description":"List files"}"#.into(),
            },
        ]
    );
    let results = &t.messages[4].parts;
    assert_eq!(
        results[0],
        Part::ToolResult {
            id: "toolu_01".into(),
            content: vec![Part::Text("a.txt\nb.txt".into())],
            is_error: false
        }
    );
    assert_eq!(
        results[1],
        Part::ToolResult {
            id: "toolu_02".into(),
            content: vec![Part::Text("denied".into())],
            is_error: true
        }
    );
    assert_eq!(
        results[2],
        Part::Image(Image::Inline {
            media_type: "image/png".into(),
            data: vec![0x89, b'P', b'N', b'G']
        })
    );
    assert_eq!(
        results[3],
        Part::File(File::Inline {
            media_type: "application/pdf".into(),
            data: b"%PDF-".to_vec(),
            filename: Some("spec.pdf".into())
        })
    );
}

#[test]
fn tools_choice_and_parameters_take_their_places() {
    let t = turn(fixture()).unwrap();
    assert_eq!(t.tools.len(), 1);
    assert_eq!(t.tools[0].name, "Bash");
    assert_eq!(
        t.tools[0].parameters["properties"]["command"]["type"],
        "string"
    );
    assert!(
        t.tools[0].extra.is_empty(),
        "the cache mark is not a tool field"
    );
    assert_eq!(t.hosted_tools[0]["type"], "web_search_20250305");
    assert_eq!(t.tool_choice, Some(ToolChoice::Auto));
    let p = &t.params;
    assert_eq!(p.max_tokens, Some(32000));
    assert_eq!(p.temperature, Some(1.0));
    assert_eq!(p.stop, ["END"]);
    assert_eq!(p.user.as_deref(), Some("{\"device_id\":\"d1\"}"));
    assert_eq!(p.parallel_tool_calls, Some(false));
    assert_eq!(
        p.named,
        [
            "max_tokens",
            "temperature",
            "stop_sequences",
            "metadata.user_id",
            "tool_choice.disable_parallel_tool_use"
        ]
    );
    // A budget of 31,999 tokens is the most effort.
    assert_eq!(t.effort, Some(Effort::Max));
    // What has no place is named (an Anthropic upstream gets it as sent).
    assert!(t.extra.is_empty());
    assert_eq!(t.unused, ["cache_control", "context_management"]);
}

#[test]
fn effort_comes_from_output_config_or_the_thinking_budget() {
    let with = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        turn(body).unwrap()
    };
    let t = with(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}));
    assert_eq!(t.effort, Some(Effort::High));
    assert!(t.extra.is_empty(), "both read whole: {:?}", t.extra);
    for (budget, effort) in [
        (1024, Effort::Low),
        (4095, Effort::Low),
        (4096, Effort::Medium),
        (10_000, Effort::High),
        (16_000, Effort::XHigh),
        (64_000, Effort::Max),
    ] {
        let t = with(json!({"thinking": {"type": "enabled", "budget_tokens": budget}}));
        assert_eq!(t.effort, Some(effort), "{budget}");
    }
    let t = with(json!({"thinking": {"type": "disabled"}}));
    assert_eq!(t.effort, None);
    assert!(t.extra.is_empty());
    // Fields beyond what is read are named.
    let t = with(json!({"thinking": {"type": "adaptive", "display": "summarized"}}));
    assert_eq!(t.unused, ["thinking"]);
    let err = with_err(json!({"output_config": {"effort": "huge"}}));
    assert!(err.contains("output_config.effort"), "{err}");
}

fn with_err(extra: Value) -> String {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    turn(body).unwrap_err().to_string()
}

#[test]
fn tool_choices_map_to_the_vocabulary() {
    for (choice, expected) in [
        (json!({"type": "auto"}), ToolChoice::Auto),
        (json!({"type": "any"}), ToolChoice::Required),
        (json!({"type": "none"}), ToolChoice::None),
        (
            json!({"type": "tool", "name": "Bash"}),
            ToolChoice::Named("Bash".into()),
        ),
    ] {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                          "tool_choice": choice});
        assert_eq!(turn(body).unwrap().tool_choice, Some(expected));
    }
}

#[test]
fn malformed_requests_name_the_field() {
    let cases = [
        (json!({"messages": []}), "`messages` must not be empty"),
        (
            json!({"messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b"}]}]}),
            "belongs in an assistant message",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "a"}]}]}),
            "belongs in a user message",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "***"}}]}]}),
            "messages[0].content[0].source.data is not valid base64",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "system": 5}),
            "`system` must be",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "sometimes"}}),
            "tool_choice.type",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"description": "no name"}]}),
            "tools[0].name must be a string",
        ),
    ];
    for (body, expected) in cases {
        let err = turn(body.clone()).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }
}

#[test]
fn server_tool_blocks_are_named_not_refused() {
    let t = turn(json!({"messages": [
        {"role": "user", "content": "search"},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
            {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
            {"type": "text", "text": "found"}
        ]},
    ]}))
    .unwrap();
    assert_eq!(t.messages[1].parts, [Part::Text("found".into())]);
    assert_eq!(
        t.unused,
        [
            "messages[].content[server_tool_use]",
            "messages[].content[web_search_tool_result]"
        ]
    );
}
