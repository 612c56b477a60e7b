//! The request shapes of subscription backends: the ChatGPT backend's
//! settings (the Codex CLI's instructions, its own tools) and Code Assist's
//! project.

use std::collections::BTreeMap;

use crate::backend::cli::expand_home;
use crate::backend::http::{CodeAssist, Codex, CodexInstructions, LoginProvider, UpstreamDialect};
use crate::config::raw::RawBackend;
use crate::location::{FieldError, KeyPath};

use super::var;

/// Code Assist, for a Google login's backend: the project from `project`,
/// else the variable `project_env` names. Other backends take neither key.
pub(super) fn code_assist(
    raw: &RawBackend,
    dialect: UpstreamDialect,
    subscription: Option<LoginProvider>,
    env: &BTreeMap<String, String>,
) -> Result<Option<CodeAssist>, FieldError> {
    if subscription != Some(LoginProvider::Google) {
        if raw.project.is_some() || raw.project_env.is_some() {
            let key = if raw.project.is_some() {
                "project"
            } else {
                "project_env"
            };
            return Err(FieldError::new(
                KeyPath::keys([key]),
                "a project is for Gemini through Code Assist: set `auth = { oauth = \"google\" }` too",
            ));
        }
        return Ok(None);
    }
    if dialect != UpstreamDialect::Gemini {
        return Err(FieldError::new(
            KeyPath::keys(["dialect"]),
            "a Google login reaches Gemini through Code Assist: use `dialect = \"gemini\"`",
        ));
    }
    let from_env = raw.project_env.as_ref().and_then(|name| var(env, name));
    Ok(Some(CodeAssist {
        project: raw.project.as_deref().or(from_env).map(str::to_owned),
    }))
}

/// The ChatGPT backend's settings, for a ChatGPT login's backend: where
/// the Codex CLI's instructions come from (`instructions_file`, else
/// captured from `instructions_from`, by default `codex`) and which of its
/// tools the operator allows. Other backends take none of these keys.
pub(super) fn codex(
    raw: &RawBackend,
    dialect: UpstreamDialect,
    subscription: Option<LoginProvider>,
    env: &BTreeMap<String, String>,
) -> Result<Option<Codex>, FieldError> {
    let chatgpt = subscription == Some(LoginProvider::ChatGpt);
    if !chatgpt {
        let key = match (
            &raw.instructions_from,
            &raw.instructions_file,
            raw.web_search,
            raw.image_generation,
        ) {
            (Some(_), ..) => "instructions_from",
            (None, Some(_), ..) => "instructions_file",
            (None, None, Some(_), _) => "web_search",
            (None, None, None, Some(_)) => "image_generation",
            (None, None, None, None) => return Ok(None),
        };
        return Err(FieldError::new(
            KeyPath::keys([key]),
            "this is a setting of the ChatGPT backend: set `auth = { oauth = \"chatgpt\" }` too",
        ));
    }
    if dialect != UpstreamDialect::OpenAiResponses {
        return Err(FieldError::new(
            KeyPath::keys(["dialect"]),
            "a ChatGPT login reaches the ChatGPT backend's Responses API: use `dialect = \"openai-responses\"`",
        ));
    }
    let instructions = match (&raw.instructions_file, &raw.instructions_from) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                KeyPath::keys(["instructions_file"]),
                "set `instructions_file` or `instructions_from`, not both",
            ));
        }
        (Some(file), None) => {
            let path = expand_home(file, env);
            let text = std::fs::read_to_string(&path)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    FieldError::new(
                        KeyPath::keys(["instructions_file"]),
                        format!("{path} cannot be read, or is empty"),
                    )
                })?;
            CodexInstructions::File {
                path: path.into(),
                text,
            }
        }
        (None, command) => {
            let cache = match (var(env, "XDG_CACHE_HOME"), var(env, "HOME")) {
                (Some(dir), _) => Some(std::path::Path::new(dir).to_owned()),
                (None, Some(home)) => Some(std::path::Path::new(home).join(".cache")),
                (None, None) => None,
            };
            let command = expand_home(command.as_deref().unwrap_or("codex"), env);
            CodexInstructions::Captured {
                found: super::super::cli::find_program(
                    &command,
                    env.get("PATH").map(String::as_str),
                ),
                command,
                cache: cache.map(|dir| dir.join("agent-cli-to-api")),
            }
        }
    };
    Ok(Some(Codex {
        instructions,
        web_search: raw.web_search.unwrap_or(false),
        image_generation: raw.image_generation.unwrap_or(false),
    }))
}
