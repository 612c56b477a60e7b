//! The one error type of the request path, classified by who is at fault
//! (client, backend, gateway) so that each maps to one HTTP status and one
//! error envelope.
//!
//! This module knows statuses and wording; it never logs and never formats a
//! dialect's wire envelope (that is `dialect::*`'s job, via [`Error::kind`]).

use std::time::Duration;

use axum::http::StatusCode;

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed or asks for something the backend cannot do.
    #[error("{0}")]
    InvalidRequest(String),
    /// The request was refused before any work: a foreign `Host` or
    /// `Origin` (what a web page or DNS rebinding would send).
    #[error("{0}")]
    Forbidden(String),
    /// The request body is not declared as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The client took too long to send its request body.
    #[error("{0}")]
    RequestTimeout(String),
    /// No endpoint at this path.
    #[error("{0}")]
    NotFound(String),
    /// The endpoint exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Missing or wrong gateway token.
    #[error(
        "missing or invalid API key: send `Authorization: Bearer <token>` or `x-api-key: <token>`"
    )]
    Unauthorized,
    /// No route serves this model string.
    #[error("{message}")]
    UnknownModel {
        /// Full explanation, including what is available.
        message: String,
    },
    /// The request body is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The backend's concurrency limit and queue are full, or the queue wait timed out.
    #[error("backend `{backend}` is at capacity ({detail}); retry after {retry_after_secs}s")]
    Busy {
        /// Backend name.
        backend: String,
        /// What was full.
        detail: String,
        /// Value of the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// The CLI (or the model API behind it) reported a failure.
    #[error("{backend}: {message}")]
    Backend {
        /// Backend name.
        backend: String,
        /// HTTP status of the model API behind the CLI, when it is known.
        upstream_status: Option<u16>,
        /// The CLI's own error text (secrets redacted).
        message: String,
    },
    /// An HTTP upstream answered with an error status.
    #[error("{backend}: {message}")]
    Upstream {
        /// Backend name.
        backend: String,
        /// The upstream's status.
        status: u16,
        /// The upstream's error message (secrets redacted).
        message: String,
        /// The upstream's `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// The backend did not finish within its deadline.
    #[error("backend `{backend}` timed out after {}s", .after.as_secs())]
    Timeout {
        /// Backend name.
        backend: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The gateway is shutting down.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// A bug or an environment problem inside the gateway.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Retry-After` sent with a rate limit reported by a CLI.
pub const UPSTREAM_RETRY_AFTER_SECS: u64 = 5;

/// The error classes shared by every dialect's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400, 405, 408, 413, 415.
    InvalidRequest,
    /// 401.
    Authentication,
    /// 403.
    PermissionDenied,
    /// 404.
    NotFound,
    /// 429.
    RateLimit,
    /// 502 and 500.
    Api,
    /// 504.
    Timeout,
    /// 503.
    Overloaded,
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::UnknownModel { .. } => StatusCode::NOT_FOUND,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Backend {
                upstream_status, ..
            } => backend_status(*upstream_status),
            Error::Upstream { status, .. } => upstream_status(*status),
            Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The class of error, for the dialect envelopes.
    pub fn kind(&self) -> ErrorKind {
        match self.status().as_u16() {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimit,
            503 => ErrorKind::Overloaded,
            504 => ErrorKind::Timeout,
            400..=499 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Api,
        }
    }

    /// A short machine-readable code for the envelope's `code` field.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::Forbidden(_) => "forbidden",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::RequestTimeout(_) => "request_timeout",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Unauthorized => "invalid_api_key",
            Error::UnknownModel { .. } => "model_not_found",
            Error::TooLarge(_) => "request_too_large",
            Error::Busy { .. } => "backend_busy",
            Error::Backend {
                upstream_status: Some(429),
                ..
            } => "rate_limit_exceeded",
            Error::Backend { .. } => "backend_error",
            Error::Upstream { status: 429, .. } => "rate_limit_exceeded",
            Error::Upstream { .. } => "upstream_error",
            Error::Timeout { .. } => "timeout",
            Error::ShuttingDown => "shutting_down",
            Error::Internal(_) => "internal_error",
        }
    }

    /// Seconds for a `Retry-After` header, when the client should retry later.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Error::ShuttingDown => Some(1),
            // The CLI does not say how long the model API wants us to wait.
            Error::Backend {
                upstream_status: Some(429),
                ..
            } => Some(UPSTREAM_RETRY_AFTER_SECS),
            Error::Upstream {
                status: 429,
                retry_after,
                ..
            } => Some(retry_after.unwrap_or(UPSTREAM_RETRY_AFTER_SECS)),
            Error::Upstream {
                retry_after: Some(secs),
                ..
            } => Some(*secs),
            _ => None,
        }
    }

    /// Whether a client's automatic retry could get a different answer.
    ///
    /// The CLIs retry the model API themselves, so a CLI that failed or timed
    /// out would only run again, at full cost, to the same end; an internal
    /// error (often after the CLI ran) is no better. The official SDKs retry
    /// every 5xx twice unless told otherwise (`x-should-retry`).
    pub fn worth_retrying(&self) -> bool {
        match self {
            Error::Backend { .. } => self.status() == StatusCode::TOO_MANY_REQUESTS,
            // A model API is cheap to ask again; a request it refused is not.
            Error::Upstream { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Error::Timeout { .. } | Error::Internal(_) => false,
            _ => true,
        }
    }
}

impl Error {
    /// Whether a route's fallback is tried after this failure, which came
    /// before anything reached the client: the backend was busy or rate
    /// limited, failed (a 5xx, no connection, no answer in time), or could
    /// not run. A request the backend refused as such (a 4xx other than
    /// 429) would be refused by the next one too.
    pub fn falls_back(&self) -> bool {
        match self {
            Error::Busy { .. } | Error::Timeout { .. } => true,
            Error::Upstream { status, .. } => *status == 429 || *status >= 500,
            Error::Backend { .. } => {
                matches!(
                    self.status(),
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::BAD_GATEWAY
                )
            }
            _ => false,
        }
    }
}

/// How a failure reported by the model API behind a CLI is answered.
///
/// The client's request was at fault only for the 4xx statuses that describe
/// the request; auth failures are the operator's CLI login, so they are a 502
/// like every other upstream failure. 429 stays 429 so clients fail over.
fn backend_status(upstream: Option<u16>) -> StatusCode {
    match upstream {
        Some(400 | 404 | 413 | 422) => StatusCode::BAD_REQUEST,
        Some(429) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// How an HTTP upstream's error status is answered: a 4xx is the client's
/// request (or its rate limit), passed on as is; anything else is a 502.
fn upstream_status(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(code) if code.is_client_error() => code,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Finds the HTTP status a CLI's error text talks about, when it names one.
///
/// CLIs pass the model API's error through as text: "API Error: 400 …",
/// "unexpected status 500 …", or the raw JSON body with its error `type`.
pub fn status_in_message(message: &str) -> Option<u16> {
    static PATTERNS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)(?:API Error:?|failed:|status(?: code)?[=: ]|error code:?|HTTP/\d(?:\.\d)?|"code"\s*:)\s*([45]\d\d)\b"#,
        )
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    });
    if let Some(status) = PATTERNS
        .captures(message)
        .and_then(|c| c.get(1))
        .and_then(|m| m.as_str().parse().ok())
    {
        return Some(status);
    }
    let lower = message.to_ascii_lowercase();
    [
        ("invalid_request_error", 400),
        ("invalid_argument", 400),
        ("rate_limit_error", 429),
        ("resource_exhausted", 429),
        ("too many requests", 429),
        ("rate limit", 429),
    ]
    .into_iter()
    .find(|(needle, _)| lower.contains(needle))
    .map(|(_, status)| status)
}

/// Replaces every occurrence of each secret in `text` with `[redacted]`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    // Longest first, so a secret that starts another never leaves its tail.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_whole_secrets_even_when_one_starts_another() {
        let secrets = ["sk-abcd".to_owned(), "sk-abcd-long-tail".to_owned()];
        assert_eq!(
            redact("key sk-abcd-long-tail and sk-abcd", &secrets),
            "key [redacted] and [redacted]"
        );
    }

    #[test]
    fn upstream_statuses_are_found_in_cli_error_text() {
        assert_eq!(
            status_in_message("API Error: 400 fake upstream rejected"),
            Some(400)
        );
        assert_eq!(
            status_in_message("API Error: 500 fake upstream rejected. This is a server-side issue"),
            Some(500)
        );
        assert_eq!(
            status_in_message(r#"{"error": {"type": "invalid_request_error"}}"#),
            Some(400)
        );
        assert_eq!(
            status_in_message(
                r#"[API Error: {"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}]"#
            ),
            Some(429)
        );
        assert_eq!(
            status_in_message("We're currently experiencing high demand"),
            None
        );
        assert_eq!(status_in_message("retrying in 400ms"), None);
    }

    #[test]
    fn client_faults_stay_4xx_and_the_rest_is_bad_gateway() {
        let err = |s| Error::Backend {
            backend: "x".into(),
            upstream_status: s,
            message: String::new(),
        };
        assert_eq!(err(Some(400)).status(), StatusCode::BAD_REQUEST);
        assert_eq!(err(Some(429)).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err(Some(401)).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(err(Some(500)).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(err(None).status(), StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn redaction_hides_every_occurrence() {
        let secrets = vec!["s3cret-token".to_owned()];
        assert_eq!(
            redact("a s3cret-token b s3cret-token", &secrets),
            "a [redacted] b [redacted]"
        );
    }
}
