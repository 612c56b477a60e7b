//! Gemini requests into turns: parts, calls and their responses, tools and
//! generation settings land in their places.

use serde_json::{Value, json};

use super::*;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dialect/gemini-cli-request.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn turn(body: Value) -> Result<Turn, Error> {
    to_turn(serde_json::from_value(body).unwrap(), "gem:x", true)
}

#[test]
fn a_gemini_cli_request_keeps_every_part_in_order() {
    let t = turn(fixture()).unwrap();
    assert_eq!(t.model, "gem:x");
    assert!(t.stream);
    let roles: Vec<Role> = t.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::User
        ]
    );
    assert!(matches!(
        t.messages[1].parts[2],
        Part::Image(Image::Inline { .. })
    ));
    assert_eq!(
        t.messages[2].parts,
        [
            Part::Reasoning {
                text: "I should run ls.".into(),
                signature: None
            },
            Part::Reasoning {
                text: String::new(),
                signature: Some("sig-g".into())
            },
            Part::ToolCall {
                id: "call_0".into(),
                name: "run_shell_command".into(),
                arguments: r#"{"command":"ls"}"#.into()
            },
            Part::ToolCall {
                id: "c2".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"a"}"#.into()
            },
        ]
    );
    // Paired by id, and by name in order when there is none.
    assert_eq!(t.messages[3].tool_call_id.as_deref(), Some("c2"));
    assert_eq!(t.messages[3].text(), "A");
    assert_eq!(t.messages[4].tool_call_id.as_deref(), Some("call_0"));
    assert_eq!(t.messages[4].text(), "a.txt");
}

#[test]
fn tools_choice_and_generation_settings_take_their_places() {
    let t = turn(fixture()).unwrap();
    assert_eq!(t.tools.len(), 2);
    assert_eq!(
        t.tools[0].parameters,
        json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]})
    );
    assert_eq!(
        t.tools[1].parameters["properties"]["path"]["type"],
        "string"
    );
    assert_eq!(t.hosted_tools, [json!({"googleSearch": {}})]);
    assert_eq!(t.tool_choice, Some(ToolChoice::Named("read_file".into())));
    assert_eq!(t.effort, Some(Effort::High));
    let p = &t.params;
    assert_eq!(
        (p.temperature, p.top_p, p.max_tokens),
        (Some(1.0), Some(0.95), Some(900))
    );
    assert_eq!(p.stop, ["END"]);
    assert_eq!(t.unused, ["generationConfig.topK", "safetySettings"]);
}

#[test]
fn thinking_budgets_and_json_output() {
    let with = |config: Value| {
        let mut body = json!({"contents": [{"parts": [{"text": "hi"}]}]});
        body["generationConfig"] = config;
        turn(body).unwrap()
    };
    assert_eq!(
        with(json!({"thinkingConfig": {"thinkingBudget": 0}})).effort,
        None
    );
    assert_eq!(
        with(json!({"thinkingConfig": {"thinkingBudget": -1}})).effort,
        None
    );
    assert_eq!(
        with(json!({"thinkingConfig": {"thinkingBudget": 16384}})).effort,
        Some(Effort::High)
    );
    let t = with(json!({"responseMimeType": "application/json"}));
    assert_eq!(
        t.params.response_format,
        Some(json!({"type": "json_object"}))
    );
    assert_eq!(t.params.named, ["generationConfig.responseMimeType"]);
    let t = with(json!({"responseMimeType": "application/json",
                        "responseSchema": {"type": "OBJECT"}}));
    assert_eq!(
        t.params.response_format,
        Some(json!({"type": "json_schema",
                    "json_schema": {"name": "response", "schema": {"type": "object"}}}))
    );
}

#[test]
fn what_has_no_place_beside_tools_is_kept_or_named() {
    let t = turn(json!({
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "behavior": "NON_BLOCKING",
                                             "parameters": {"type": "OBJECT"}}],
                   "googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f", "g"]},
                       "retrievalConfig": {"languageCode": "en"}}
    }))
    .unwrap();
    assert_eq!(
        t.tools[0].extra.get("behavior"),
        Some(&json!("NON_BLOCKING"))
    );
    assert_eq!(t.hosted_tools, [json!({"googleSearch": {}})]);
    assert_eq!(t.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(
        t.unused,
        [
            "toolConfig.retrievalConfig",
            "toolConfig.functionCallingConfig.allowedFunctionNames"
        ]
    );
}

#[test]
fn malformed_requests_name_the_field() {
    let cases = [
        (json!({}), "`contents` is required"),
        (
            json!({"contents": [{"role": "robot", "parts": []}]}),
            "contents[0].role",
        ),
        (json!({"contents": [{"role": "user"}]}), "contents[0].parts"),
        (
            json!({"contents": [{"role": "model", "parts": [{"text": "hi"}]}]}),
            "at least one user turn",
        ),
        (
            json!({"contents": [{"parts": [{"functionCall": {"name": "f"}}]}]}),
            "belongs in a model turn",
        ),
        (
            json!({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "***"}}]}]}),
            "contents[0].parts[0].inlineData.data is not valid base64",
        ),
    ];
    for (body, expected) in cases {
        let err = turn(body.clone()).unwrap_err();
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }
}

#[test]
fn system_parts_other_than_text_are_named() {
    let t = turn(json!({
        "systemInstruction": {"parts": [{"text": "be brief"},
                                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}}]},
        "contents": [{"parts": [{"text": "hi"}]}],
    }))
    .unwrap();
    assert_eq!(t.messages[0].text(), "be brief");
    assert_eq!(t.unused, ["systemInstruction.parts[]"]);
}
