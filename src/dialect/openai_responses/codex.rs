//! The request shape of the ChatGPT backend's Codex endpoint, laid over a
//! Responses request: the Codex CLI's own instructions first (the backend
//! takes no other), the client's system text after them as a developer
//! message, always streamed, never stored, encrypted reasoning included,
//! no sampling or length settings, and the session as the prompt-cache
//! key. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the installed Codex CLI sends: its instructions, where it puts
/// them, and the headers that say who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodexPrompt {
    /// The Codex version they came from, when known.
    pub version: Option<String>,
    /// The base instructions, as the CLI sends them.
    pub instructions: String,
    /// Where the CLI puts them.
    pub placement: Placement,
    /// Headers of the CLI's requests kept for ours (`originator`,
    /// `user-agent`, `version`), as it sent them.
    pub headers: Vec<(String, String)>,
    /// The header that carries the session id (`session_id`, `session-id`).
    pub session_header: String,
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
/// session `session`.
pub fn shape(body: &mut Map<String, Value>, prompt: &CodexPrompt, session: &str) {
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
    body.entry("tools").or_insert_with(|| json!([]));
    body.insert("prompt_cache_key".into(), json!(session));
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
pub fn from_request(
    body: &Value,
    headers: &[(String, String)],
    version: Option<String>,
) -> Result<CodexPrompt, String> {
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
    Ok(CodexPrompt {
        version,
        instructions,
        placement,
        headers: kept,
        session_header: (*session_header).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(placement: Placement) -> CodexPrompt {
        CodexPrompt {
            version: Some("0.169.0".into()),
            instructions: "You are Codex.".into(),
            placement,
            headers: vec![("originator".into(), "codex_exec".into())],
            session_header: "session-id".into(),
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
        shape(&mut body, &prompt(Placement::Developer), "s-1");
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
        shape(&mut body, &prompt(Placement::Instructions), "s-1");
        assert_eq!(body["instructions"], "You are Codex.");
        assert_eq!(body["input"][0]["content"][0]["text"], "Answer in French.");
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
        let prompt = from_request(&body, &headers, None).unwrap_or_else(|e| panic!("{e}"));
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
        let prompt = from_request(&body, &[], None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (prompt.instructions.as_str(), prompt.placement),
            ("Field prompt", Placement::Instructions)
        );
        assert_eq!(prompt.session_header, "session_id");
        assert!(from_request(&json!({"input": []}), &[], None).is_err());
    }
}
