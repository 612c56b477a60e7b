//! The one place an upstream dialect is picked: where a request goes, its
//! body, its whole answer and its stream decoder, from the pure
//! translators.

use std::borrow::Cow;

use serde_json::Value;

use crate::backend::http::{HttpTemplate, LoginProvider, UpstreamDialect};
use crate::dialect::openai_responses::codex::{self, CodexPrompt, CodexTools};
use crate::dialect::upstream::StreamDecoder;
use crate::dialect::{anthropic, gemini, openai_chat, openai_responses, splice};
use crate::error::Error;
use crate::event::Event;
use crate::turn::{Effort, Native, Turn};

/// The URL a request for `model` is posted to: made once at load, except
/// Gemini's, which names the model and whether it streams.
pub(super) fn endpoint<'a>(
    http: &'a HttpTemplate,
    model: &str,
    stream: bool,
) -> Result<Cow<'a, reqwest::Url>, Error> {
    if http.dialect != UpstreamDialect::Gemini {
        return Ok(Cow::Borrowed(&http.endpoint));
    }
    let action = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    if http.code_assist.is_some() {
        // The model goes in the body.
        let mut url = http.endpoint.clone();
        url.set_path(&format!("{}:{action}", url.path()));
        url.set_query(stream.then_some("alt=sse"));
        return Ok(Cow::Owned(url));
    }
    let model = model.strip_prefix("models/").unwrap_or(model);
    if model.contains([':', '/', ' ']) {
        return Err(Error::InvalidRequest(format!(
            "{model:?} is not a Gemini model name: it goes in the URL, without `:`, `/` or spaces"
        )));
    }
    let mut url = http.endpoint.clone();
    url.set_path(&format!("{}{model}:{action}", url.path()));
    url.set_query(stream.then_some("alt=sse"));
    Ok(Cow::Owned(url))
}

/// What Anthropic requires of a request made with a Claude subscription
/// login: this first system block.
const CLAUDE_LOGIN_SYSTEM: &str = "You are Claude Code, Anthropic's official CLI for Claude.";

/// The body sent for `turn` to `model`, in the shape the backend's
/// credentials require: a Claude login's, or the ChatGPT backend's (the
/// Codex CLI's prompt, and the session).
pub(super) fn request(
    http: &HttpTemplate,
    turn: &Turn,
    model: &str,
    effort: Option<Effort>,
    codex: Option<(&CodexPrompt, &str)>,
) -> Result<Value, Error> {
    let mut body = body(http.dialect, turn, model, effort)?;
    if let (Some((prompt, session)), Some(allowed), Value::Object(fields)) =
        (codex, &http.codex, &mut body)
    {
        let tools = CodexTools::for_turn(turn, allowed.web_search, allowed.image_generation);
        codex::shape(fields, prompt, session, &tools);
    }
    if claude_login(http) {
        body["system"] = with_login_system(body.get_mut("system").map(Value::take));
    }
    Ok(body)
}

/// Whether the backend sends Anthropic requests with a Claude login.
fn claude_login(http: &HttpTemplate) -> bool {
    http.dialect == UpstreamDialect::AnthropicMessages
        && http.subscription() == Some(LoginProvider::Anthropic)
}

/// `system` (a string, blocks, or none) with a Claude login's first block.
fn with_login_system(system: Option<Value>) -> Value {
    let first = serde_json::json!({"type": "text", "text": CLAUDE_LOGIN_SYSTEM});
    match system {
        Some(Value::Array(mut blocks)) => {
            blocks.insert(0, first);
            Value::Array(blocks)
        }
        Some(Value::String(text)) if !text.is_empty() => Value::Array(vec![
            first,
            serde_json::json!({"type": "text", "text": text}),
        ]),
        _ => Value::Array(vec![first]),
    }
}

/// The client's own request, passed through to an upstream of its
/// dialect: every byte as sent but the routed model (and the system block
/// a Claude login requires).
pub(super) fn native_request(
    http: &HttpTemplate,
    native: &Native,
    model: &str,
) -> Result<Vec<u8>, Error> {
    let invalid = |e: String| Error::InvalidRequest(format!("invalid JSON body: {e}"));
    let mut fields = splice::Fields::parse(&native.body).map_err(invalid)?;
    // Gemini's model is in the URL.
    if http.dialect != UpstreamDialect::Gemini {
        fields.set("model", &Value::from(model));
    }
    if claude_login(http) {
        let system = fields
            .get("system")
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
            .map_err(|e| invalid(e.to_string()))?;
        fields.set("system", &with_login_system(system));
    }
    Ok(fields.to_bytes())
}

fn body(
    dialect: UpstreamDialect,
    turn: &Turn,
    model: &str,
    effort: Option<Effort>,
) -> Result<Value, Error> {
    match dialect {
        UpstreamDialect::OpenAiChat => Ok(openai_chat::upstream::request(turn, model, effort)),
        UpstreamDialect::OpenAiResponses => {
            openai_responses::upstream::request(turn, model, effort).map_err(Error::InvalidRequest)
        }
        UpstreamDialect::AnthropicMessages => {
            anthropic::upstream::request(turn, model, effort).map_err(Error::InvalidRequest)
        }
        UpstreamDialect::Gemini => {
            gemini::upstream::request(turn, effort).map_err(Error::InvalidRequest)
        }
    }
}

/// The events of a whole (non-streamed) answer; `request_id` makes ids
/// for tool calls the upstream gave none.
pub(super) fn answer(
    http: &HttpTemplate,
    body: &Value,
    request_id: &str,
) -> Result<Vec<Event>, String> {
    if http.code_assist.is_some() {
        return gemini::code_assist::answer(body, request_id);
    }
    match http.dialect {
        UpstreamDialect::Gemini => gemini::upstream::answer(body, request_id),
        UpstreamDialect::OpenAiChat => openai_chat::upstream::answer(body),
        UpstreamDialect::OpenAiResponses => openai_responses::upstream::answer(body),
        UpstreamDialect::AnthropicMessages => anthropic::upstream::answer(body),
    }
}

/// A decoder of a streamed answer; `request_id` makes ids for tool calls
/// the upstream gave none.
pub(super) fn decoder(http: &HttpTemplate, request_id: &str) -> Box<dyn StreamDecoder> {
    if http.code_assist.is_some() {
        return Box::new(gemini::code_assist::decoder(request_id));
    }
    match http.dialect {
        UpstreamDialect::Gemini => Box::new(gemini::upstream::ContentDecoder::new(request_id)),
        UpstreamDialect::OpenAiChat => Box::<openai_chat::upstream::ChunkDecoder>::default(),
        UpstreamDialect::OpenAiResponses => {
            Box::<openai_responses::upstream::ResponseDecoder>::default()
        }
        UpstreamDialect::AnthropicMessages => Box::<anthropic::upstream::MessageDecoder>::default(),
    }
}
