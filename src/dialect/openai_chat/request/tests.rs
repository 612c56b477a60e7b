//! Chat Completions request mapping.

use serde_json::json;

use super::*;
use crate::turn::ToolChoice;

fn turn(body: serde_json::Value) -> Result<Turn, Error> {
    to_turn(serde_json::from_value(body).unwrap(), None)
}

/// What a CLI like Codex (images, sessions and effort, nothing else)
/// names as ignored.
fn ignored_by_a_cli(t: &Turn) -> Vec<String> {
    crate::backend::Capabilities {
        system: true,
        sessions: true,
        effort: true,
        images: true,
        ..crate::backend::Capabilities::default()
    }
    .review(t, "cli")
    .unwrap()
}

#[test]
fn messages_roles_and_parts_are_kept() {
    let t = turn(json!({
        "model": "claude:sonnet",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is "},
                {"type": "text", "text": "this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ]
    }))
    .unwrap();
    assert_eq!(t.model, "claude:sonnet");
    assert!(t.stream);
    assert_eq!(t.messages.len(), 4);
    assert_eq!(t.messages[1].text(), "what is this?");
    assert_eq!(
        t.messages[1].parts[2],
        Part::Image(Image::Inline {
            media_type: "image/png".into(),
            data: b"hi".to_vec()
        })
    );
    assert_eq!(t.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert!(ignored_by_a_cli(&t).is_empty());
}

#[test]
fn unsupported_parameters_are_reported_not_dropped() {
    let t = turn(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "session_id": "abc-1",
        "reasoning": {"effort": "high"}
    }))
    .unwrap();
    assert_eq!(t.params.temperature, Some(0.2));
    assert_eq!(t.tools[0].name, "f");
    assert_eq!(ignored_by_a_cli(&t), ["temperature", "tools"]);
    assert_eq!(t.session.as_deref(), Some("abc-1"));
    assert_eq!(t.effort, Some(Effort::High));
}

#[test]
fn bad_input_names_the_field() {
    let message = |body| turn(body).unwrap_err().to_string();
    assert_eq!(
        message(json!({"messages": []})),
        "`messages` must not be empty"
    );
    assert!(message(json!({"model": "x"})).contains("`messages` is required"));
    assert!(
        message(json!({"messages": [{"role": "robot", "content": "x"}]}))
            .contains("messages[0].role")
    );
    assert!(
        message(json!({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}))
            .contains("messages[0].content[0].type")
    );
    assert!(
        message(
            json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "huge"})
        )
        .contains("reasoning_effort")
    );
    assert!(
        message(json!({"messages": [{"role": "user", "content": "x"}], "session_id": "-rf"}))
            .contains("session id")
    );
    assert!(
        message(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!"}}
        ]}]}))
        .contains("not valid base64")
    );
}

#[test]
fn fields_of_an_unexpected_shape_are_kept_as_sent_not_refused() {
    let t = turn(json!({
        "messages": [{"role": "user", "content": "x"}],
        "tool_choice": "any",
        "tools": [{"type": "function", "function": "not an object"}],
        "temperature": "hot",
        "seed": 1.5,
        "stop": [1, 2],
        "user": null,
        "max_tokens": 10,
        "max_completion_tokens": 20,
    }))
    .unwrap();
    assert!(t.tools.is_empty() && t.tool_choice.is_none());
    assert_eq!(t.params.max_tokens, Some(20));
    assert_eq!(t.params.named, ["max_completion_tokens"]);
    assert_eq!(t.extra["tool_choice"], "any");
    assert_eq!(
        t.extra["tools"],
        json!([{"type": "function", "function": "not an object"}])
    );
    assert_eq!(t.extra["temperature"], "hot");
    assert_eq!(
        ignored_by_a_cli(&t),
        [
            "max_completion_tokens",
            "max_tokens",
            "seed",
            "stop",
            "temperature",
            "tool_choice",
            "tools",
            "user"
        ]
    );
}

#[test]
fn the_providers_own_tools_are_kept_beside_the_functions() {
    let t = turn(json!({
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "web_search", "search_context_size": "low"},
                  {"type": "function", "function": {"name": "f"}}],
    }))
    .unwrap();
    assert_eq!(t.tools[0].name, "f");
    assert_eq!(
        t.hosted_tools,
        [json!({"type": "web_search", "search_context_size": "low"})]
    );
    assert!(!t.extra.contains_key("tools"));
    assert_eq!(ignored_by_a_cli(&t), ["tools", "tools[web_search]"]);
}

#[test]
fn responses_style_input_is_accepted() {
    let t = turn(json!({"instructions": "be brief", "input": "hello"})).unwrap();
    assert_eq!(t.messages.len(), 2);
    assert_eq!(t.messages[0].role, Role::System);
    assert_eq!(t.messages[1].text(), "hello");
    // Items as the Responses endpoint reads them: a role-less message is
    // the user's, a function call and its output find their places.
    let t = turn(json!({"input": [
        {"content": "list the files"},
        {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"}
    ]}))
    .unwrap();
    let roles: Vec<Role> = t.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool]);
    assert_eq!(t.messages[2].tool_call_id.as_deref(), Some("c1"));
}

#[test]
fn everything_sent_is_used_or_reported() {
    let t = turn(json!({
        "instructions": "answer in French",
        "input": "ignored because messages are given",
        "reasoning": {"effort": "low", "summary": "auto"},
        "messages": [
            {"role": "user", "name": "alice", "content": "hi"},
            {"role": "assistant", "content": null, "refusal": null, "audio": {"id": "a1"},
             "function_call": {"name": "lookup", "arguments": "{\"q\": 1}"}},
        ]
    }))
    .unwrap();
    assert_eq!(t.messages[0].role, Role::System);
    assert_eq!(t.messages[0].text(), "answer in French");
    assert_eq!(t.messages[1].name.as_deref(), Some("alice"));
    assert!(matches!(&t.messages[2].parts[0], Part::ToolCall { name, .. } if name == "lookup"));
    assert_eq!(t.messages[2].extra["audio"], json!({"id": "a1"}));
    assert_eq!(
        ignored_by_a_cli(&t),
        ["input", "messages[].audio", "reasoning.summary"]
    );
}

#[test]
fn parameters_tools_and_unknown_fields_are_kept_as_sent() {
    let t = turn(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 50,
        "top_p": 0.9,
        "stop": "END",
        "seed": 7,
        "user": "u-1",
        "response_format": {"type": "json_object"},
        "parallel_tool_calls": false,
        "n": 2,
        "tools": [{"type": "function", "function": {
            "name": "weather", "description": "forecast", "strict": true,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
        }}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "metadata": {"trace": "t"}
    }))
    .unwrap();
    let p = &t.params;
    assert_eq!(
        (p.max_tokens, p.top_p, p.seed, p.n, p.parallel_tool_calls),
        (Some(50), Some(0.9), Some(7), Some(2), Some(false))
    );
    assert_eq!(p.stop, ["END"]);
    assert_eq!(p.user.as_deref(), Some("u-1"));
    assert_eq!(p.response_format, Some(json!({"type": "json_object"})));
    assert_eq!(t.tools[0].description.as_deref(), Some("forecast"));
    assert_eq!(t.tools[0].extra["strict"], json!(true));
    assert_eq!(
        t.tools[0].parameters["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(t.tool_choice, Some(ToolChoice::Named("weather".into())));
    assert_eq!(t.extra["metadata"], json!({"trace": "t"}));
}

#[test]
fn thinking_blocks_sent_back_become_reasoning_parts_first() {
    let t = turn(json!({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "thinking_blocks": [
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "redacted_thinking", "data": "enc"}
        ]}
    ]}))
    .unwrap();
    assert_eq!(
        t.messages[1].parts,
        [
            Part::Reasoning {
                text: "hm".into(),
                signature: Some("s".into())
            },
            Part::RedactedReasoning("enc".into()),
            Part::Text("a".into())
        ]
    );
    assert!(t.messages[1].extra.is_empty());
    assert_eq!(ignored_by_a_cli(&t), ["messages[].thinking_blocks"]);
    let bad = |blocks: serde_json::Value, role: &str| {
        turn(json!({"messages": [{"role": role, "content": "a", "thinking_blocks": blocks}]}))
            .unwrap_err()
            .to_string()
    };
    assert!(bad(json!({}), "assistant").contains("messages[0].thinking_blocks must be an array"));
    assert!(
        bad(json!([{"type": "x"}]), "assistant").contains("messages[0].thinking_blocks[0].type")
    );
    assert!(
        bad(json!([{"type": "thinking"}]), "assistant").contains("[0].thinking must be a string")
    );
    assert!(bad(json!([]), "user").contains("only taken in assistant messages"));
}

#[test]
fn file_parts_carry_their_bytes_name_or_id() {
    let t = turn(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "read"},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_id": "file-123"}}
    ]}]}))
    .unwrap();
    assert_eq!(
        t.messages[0].parts[1..],
        [
            Part::File(File::Inline {
                media_type: "application/pdf".into(),
                data: b"%PDF-".to_vec(),
                filename: Some("a.pdf".into())
            }),
            Part::File(File::Id("file-123".into()))
        ]
    );
    let err = ignored_by_a_cli_result(&t).unwrap_err().to_string();
    assert!(err.contains("cannot take files"), "{err}");
    let bad = |file: serde_json::Value| {
        turn(json!({"messages": [{"role": "user", "content": [{"type": "file", "file": file}]}]}))
            .unwrap_err()
            .to_string()
    };
    assert!(
        bad(json!({"filename": "x"})).contains("messages[0].content[0].file needs `file_data`")
    );
    assert!(
        bad(json!({"file_data": "data:application/pdf;base64,@@"})).contains("not valid base64")
    );
    assert!(bad(json!({"file_data": "https://x/a.pdf"})).contains("data: URI"));
}

fn ignored_by_a_cli_result(t: &Turn) -> Result<Vec<String>, Error> {
    crate::backend::Capabilities {
        images: true,
        ..crate::backend::Capabilities::default()
    }
    .review(t, "cli")
}
