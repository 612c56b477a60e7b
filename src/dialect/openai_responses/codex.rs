//! The request shape of the ChatGPT backend's Codex endpoint, laid over a
//! Responses request: the Codex CLI's own instructions first (the backend
//! takes no other), the client's system text after them as a developer
//! message, always streamed, never stored, encrypted reasoning included,
//! no sampling or length settings, the session as the prompt-cache key,
//! and the backend's own tools (web search, image generation) as the
//! operator allows them. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::turn::Turn;

/// What the installed Codex CLI sends: its instructions, where it puts
/// them, and the headers that say who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodexPrompt {
    /// The base instructions, as the CLI sends them.
    pub instructions: String,
    /// Where the CLI puts them.
    pub placement: Placement,
    /// Headers of the CLI's requests kept for ours (`originator`,
    /// `user-agent`, `version`), as it sent them.
    pub headers: Vec<(String, String)>,
    /// The header that carries the session id (`session_id`, `session-id`).
    pub session_header: String,
    /// The web search tool as the CLI offers it, if it does.
    #[serde(default)]
    pub web_search_tool: Option<Value>,
}

/// Which of the ChatGPT backend's own tools a request gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodexTools {
    /// Web search, with the client's options (`web_search_options`, or the
    /// fields of its own web search tool): the operator allows it and the
    /// request asks for it.
    pub web_search: Option<Map<String, Value>>,
    /// Image generation: the operator enabled it.
    pub image_generation: bool,
}

impl CodexTools {
    /// The tools `turn` gets, given what the operator allows.
    pub fn for_turn(turn: &Turn, web_search: bool, image_generation: bool) -> CodexTools {
        // Asked by Chat's `web_search_options`, or a web search tool; the
        // options of either are passed on.
        let chat_way = turn.extra.get("web_search_options");
        let tools = turn.hosted_tools.iter().filter(|tool| {
            tool["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("web_search"))
        });
        let mut asked = false;
        let mut options = Map::new();
        for given in chat_way.into_iter().chain(tools) {
            asked = true;
            let fields = given.as_object().into_iter().flatten();
            options.extend(
                fields
                    .filter(|(k, _)| *k != "type")
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        CodexTools {
            web_search: (asked && web_search).then_some(options),
            image_generation,
        }
    }
}

/// Where the Codex CLI puts its instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// In the request's `instructions` field.
    Instructions,
    /// As the first input item, a developer message.
    Developer,
}

/// Fields the backend refuses.
const REFUSED: &[&str] = &["max_output_tokens", "temperature", "top_p", "user"];

/// Lays the Codex shape over `body`, a Responses request, for a request of
/// session `session`, with `tools` of the backend's own.
pub fn shape(
    body: &mut Map<String, Value>,
    prompt: &CodexPrompt,
    session: &str,
    tools: &CodexTools,
) {
    let mut leading = Vec::new();
    match prompt.placement {
        Placement::Instructions => {
            if let Some(Value::String(client)) = body.remove("instructions") {
                leading.push(developer(client));
            }
            body.insert("instructions".into(), json!(prompt.instructions));
        }
        Placement::Developer => {
            leading.push(developer(prompt.instructions.clone()));
            if let Some(Value::String(client)) = body.remove("instructions") {
                leading.push(developer(client));
            }
        }
    }
    match body.get_mut("input") {
        Some(Value::Array(input)) => {
            input.splice(0..0, leading);
        }
        _ => {
            body.insert("input".into(), Value::Array(leading));
        }
    }
    for key in REFUSED {
        body.remove(*key);
    }
    body.insert("stream".into(), json!(true));
    body.insert("store".into(), json!(false));
    body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    body.entry("reasoning")
        .or_insert_with(|| json!({"summary": "auto"}));
    let own = with_own_tools(body.remove("tools"), prompt, tools);
    body.insert("tools".into(), Value::Array(own));
    body.insert("prompt_cache_key".into(), json!(session));
}

/// The client's function tools, then the backend's own as `tools` allows:
/// the client's image generation tool (its size, quality, format) or the
/// plain one, and the CLI's web search tool, live, with the client's options.
fn with_own_tools(sent: Option<Value>, prompt: &CodexPrompt, tools: &CodexTools) -> Vec<Value> {
    let mut out = match sent {
        Some(Value::Array(sent)) => sent,
        _ => Vec::new(),
    };
    out.retain(|tool| match tool["type"].as_str() {
        None | Some("function") => true,
        Some("image_generation") => tools.image_generation,
        Some(_) => false,
    });
    if let Some(options) = &tools.web_search {
        let mut search = prompt
            .web_search_tool
            .clone()
            .unwrap_or_else(|| json!({"type": "web_search"}));
        if let Value::Object(fields) = &mut search {
            // Live search: the client asked for it (the CLI's default is cached).
            fields.insert("external_web_access".into(), json!(true));
            fields.extend(options.clone());
        }
        out.push(search);
    }
    if tools.image_generation && !out.iter().any(|t| t["type"] == "image_generation") {
        out.push(json!({"type": "image_generation"}));
    }
    out
}

fn developer(text: String) -> Value {
    json!({"type": "message", "role": "developer",
           "content": [{"type": "input_text", "text": text}]})
}

/// The Codex CLI's prompt in the request it sent (a Responses body and
/// its headers), as it would be laid over the gateway's requests.
///
/// # Errors
/// When the request holds no instructions.
pub fn from_request(body: &Value, headers: &[(String, String)]) -> Result<CodexPrompt, String> {
    let field = body
        .get("instructions")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty());
    let first_developer = || {
        let input = body.get("input")?.as_array()?;
        let message = input.iter().find(|item| item["role"] == "developer")?;
        let text: Vec<&str> = match &message["content"] {
            Value::String(text) => vec![text.as_str()],
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => Vec::new(),
        };
        Some(text.concat()).filter(|t| !t.trim().is_empty())
    };
    let (instructions, placement) = match (field, first_developer()) {
        (Some(text), _) => (text.to_owned(), Placement::Instructions),
        (None, Some(text)) => (text, Placement::Developer),
        (None, None) => {
            return Err(
                "its request held no instructions (no `instructions`, no developer message)".into(),
            );
        }
    };
    let named = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
    let kept = ["originator", "user-agent", "version"]
        .iter()
        .filter_map(|name| named(name))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let session_header = ["session_id", "session-id"]
        .iter()
        .find(|name| named(name).is_some())
        .unwrap_or(&"session_id");
    let web_search_tool = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|t| {
            t["type"]
                .as_str()
                .is_some_and(|k| k.starts_with("web_search"))
        })
        .cloned();
    Ok(CodexPrompt {
        instructions,
        placement,
        headers: kept,
        session_header: (*session_header).to_owned(),
        web_search_tool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(placement: Placement) -> CodexPrompt {
        CodexPrompt {
            instructions: "You are Codex.".into(),
            placement,
            headers: vec![("originator".into(), "codex_exec".into())],
            session_header: "session-id".into(),
            web_search_tool: Some(json!({"type": "web_search", "external_web_access": true})),
        }
    }

    fn request() -> Map<String, Value> {
        json!({
            "model": "gpt-5.5", "instructions": "Answer in French.",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "hi"}]}],
            "temperature": 0.2, "max_output_tokens": 10, "top_p": 0.9, "user": "u",
            "reasoning": {"effort": "low", "summary": "auto"},
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn codex_instructions_come_first_and_the_clients_system_text_follows() {
        let mut body = request();
        shape(
            &mut body,
            &prompt(Placement::Developer),
            "s-1",
            &CodexTools::default(),
        );
        assert!(body.get("instructions").is_none());
        let input = body["input"].as_array().cloned().unwrap_or_default();
        assert_eq!(input[0]["content"][0]["text"], "You are Codex.");
        assert_eq!(input[1]["role"], "developer");
        assert_eq!(input[1]["content"][0]["text"], "Answer in French.");
        assert_eq!(input[2]["role"], "user");
        for refused in REFUSED {
            assert!(body.get(*refused).is_none(), "{refused}");
        }
        assert_eq!(body["stream"], true);
        assert_eq!(body["store"], false);
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(
            body["reasoning"],
            json!({"effort": "low", "summary": "auto"})
        );
        assert_eq!(body["prompt_cache_key"], "s-1");
        assert_eq!(body["tools"], json!([]));

        let mut body = request();
        shape(
            &mut body,
            &prompt(Placement::Instructions),
            "s-1",
            &CodexTools::default(),
        );
        assert_eq!(body["instructions"], "You are Codex.");
        assert_eq!(body["input"][0]["content"][0]["text"], "Answer in French.");
    }

    #[test]
    fn the_backends_own_tools_are_offered_as_the_operator_allows() {
        let turn = Turn {
            hosted_tools: vec![
                json!({"type": "web_search_preview", "search_context_size": "low"}),
                json!({"type": "image_generation", "size": "1024x1024", "quality": "low"}),
                json!({"type": "file_search"}),
            ],
            ..Turn::default()
        };
        let mut body = request();
        body.insert(
            "tools".into(),
            std::iter::once(json!({"type": "function", "name": "f"}))
                .chain(turn.hosted_tools.clone())
                .collect(),
        );
        let tools = CodexTools::for_turn(&turn, true, true);
        shape(&mut body, &prompt(Placement::Developer), "s", &tools);
        assert_eq!(
            body["tools"],
            json!([
                {"type": "function", "name": "f"},
                {"type": "image_generation", "size": "1024x1024", "quality": "low"},
                {"type": "web_search", "external_web_access": true, "search_context_size": "low"},
            ])
        );

        // Not allowed: only the function; asked by `web_search_options`: searched.
        let mut body = request();
        body.insert("tools".into(), json!([{"type": "web_search"}]));
        shape(
            &mut body,
            &prompt(Placement::Developer),
            "s",
            &CodexTools::for_turn(&turn, false, false),
        );
        assert_eq!(body["tools"], json!([]));
        let mut options = Turn::default();
        options.extra.insert("web_search_options".into(), json!({}));
        let tools = CodexTools::for_turn(&options, true, false);
        let mut body = request();
        shape(&mut body, &prompt(Placement::Developer), "s", &tools);
        assert_eq!(
            body["tools"],
            json!([{"type": "web_search", "external_web_access": true}])
        );
        assert_eq!(
            CodexTools::for_turn(&Turn::default(), true, false).web_search,
            None,
            "not asked"
        );
    }

    #[test]
    fn the_prompt_is_read_from_the_field_or_the_first_developer_message() {
        let headers = vec![
            ("User-Agent".to_owned(), "codex_exec/0.169.0".to_owned()),
            ("originator".to_owned(), "codex_exec".to_owned()),
            ("session-id".to_owned(), "abc".to_owned()),
            ("authorization".to_owned(), "Bearer secret".to_owned()),
        ];
        let body = json!({"input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "Base "}, {"type": "input_text", "text": "prompt"}]},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "skills"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]});
        let prompt = from_request(&body, &headers).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(prompt.instructions, "Base prompt");
        assert_eq!(prompt.placement, Placement::Developer);
        assert_eq!(prompt.session_header, "session-id");
        assert_eq!(
            prompt.headers,
            vec![
                ("originator".to_owned(), "codex_exec".to_owned()),
                ("user-agent".to_owned(), "codex_exec/0.169.0".to_owned()),
            ],
            "never the credentials"
        );

        let body = json!({"instructions": "Field prompt", "input": []});
        let prompt = from_request(&body, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (prompt.instructions.as_str(), prompt.placement),
            ("Field prompt", Placement::Instructions)
        );
        assert_eq!(prompt.session_header, "session_id");
        assert!(from_request(&json!({"input": []}), &[]).is_err());
    }
}
