//! `[server]` → [`Settings`]: every gateway setting validated, with its
//! default, and the token resolved (from a variable when it says `env:`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::to_usize;
use crate::config::error::ConfigError;
use crate::config::raw::RawServer;
use crate::config::settings::{
    ConnectionLimits, ImageLimits, LogMode, LogSettings, Settings, Token, host_name, origin_entry,
};
use crate::location::KeyPath;
use crate::turn::Effort;

/// Shortest gateway token accepted.
const MIN_TOKEN_CHARS: usize = 4;

pub(super) fn settings(
    server: &RawServer,
    env: &BTreeMap<String, String>,
    token_var: &str,
    at: &dyn Fn(KeyPath, String) -> ConfigError,
) -> Result<Settings, ConfigError> {
    let key = |k: &str| KeyPath::keys(["server", k]);
    let token = match server.token.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(value) => match value.strip_prefix("env:") {
            Some(var) => Some(Token::new(
                var,
                env.get(var)
                    .cloned()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        at(
                            key("token"),
                            format!("the environment variable {var} is not set"),
                        )
                    })?,
            )),
            None => Some(Token::new(token_var, value.to_owned())),
        },
    };
    if let Some(token) = &token
        && token.expose().chars().count() < MIN_TOKEN_CHARS
    {
        return Err(at(
            key("token"),
            format!(
                "the token is {} characters long; use at least {MIN_TOKEN_CHARS} (a long random \
                 one is best): shorter ones cannot be told apart from ordinary text, so they \
                 could not be kept out of logs and the CLIs' environment",
                token.expose().chars().count()
            ),
        ));
    }
    let log_mode = server.log_mode.as_deref().unwrap_or("summary");
    let force_effort = match server.force_effort.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(Effort::parse_setting(e).map_err(|m| at(key("force_effort"), m))?),
    };
    Ok(Settings {
        host: server.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
        port: server.port.unwrap_or(8000),
        token,
        max_body_bytes: to_usize(server.max_body_bytes.unwrap_or(32 << 20)),
        max_prompt_chars: to_usize(server.max_prompt_chars.unwrap_or(1_000_000)),
        sse_keepalive: server
            .sse_keepalive_seconds
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        images: ImageLimits {
            enabled: server.images.unwrap_or(true),
            max_count: to_usize(server.max_images.unwrap_or(8)),
            max_bytes: to_usize(server.max_image_bytes.unwrap_or(8 << 20)),
        },
        force_effort,
        log: LogSettings {
            mode: LogMode::parse(log_mode).ok_or_else(|| {
                at(
                    key("log_mode"),
                    format!("unknown log mode `{log_mode}`: use summary, qa or full"),
                )
            })?,
            curl: server.log_curl.unwrap_or(false),
            max_chars: to_usize(server.log_max_chars.unwrap_or(4000)),
            events: server.log_events.unwrap_or(false),
        },
        cors_origins: server
            .cors_origins
            .iter()
            .flatten()
            .map(|o| origin_entry(o))
            .collect(),
        allowed_hosts: server
            .allowed_hosts
            .iter()
            .flatten()
            .map(|h| {
                if h.trim() == "*" {
                    "*".to_owned()
                } else {
                    host_name(h)
                }
            })
            .collect(),
        connections: ConnectionLimits {
            max: to_usize(positive(
                server.max_connections,
                1024,
                &key("max_connections"),
                at,
            )?),
            header_timeout: Duration::from_secs(positive(
                server.header_timeout_seconds,
                30,
                &key("header_timeout_seconds"),
                at,
            )?),
        },
        body_timeout: Duration::from_secs(positive(
            server.body_timeout_seconds,
            60,
            &key("body_timeout_seconds"),
            at,
        )?),
        max_answer_bytes: to_usize(server.max_answer_bytes.unwrap_or(64 << 20)),
        strip_answer_tags: server.strip_answer_tags.unwrap_or(false),
    })
}

/// `value`, or `default` when unset; zero is refused.
fn positive(
    value: Option<u64>,
    default: u64,
    key: &KeyPath,
    at: &dyn Fn(KeyPath, String) -> ConfigError,
) -> Result<u64, ConfigError> {
    match value {
        Some(0) => Err(at(key.clone(), "must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}
