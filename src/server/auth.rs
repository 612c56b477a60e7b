//! Gateway token check: `Authorization: Bearer <token>`, `x-api-key:
//! <token>` (Anthropic's clients), or `x-goog-api-key: <token>` and a
//! `key=<token>` query parameter (Google's), compared in constant time. No token configured means open
//! (the gateway binds 127.0.0.1 by default). The config snapshot the check
//! used is the one the handler gets, so a request sees one config even
//! across a reload.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::error::Error;
use crate::state::AppState;

/// The config a request is handled with (a request extension).
#[derive(Debug, Clone)]
pub(super) struct Snapshot(pub(super) Arc<Config>);

/// Rejects requests without the configured token; passes the snapshot on.
pub(super) async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = state.config.load_full();
    let allowed = match &config.settings.token {
        None => true,
        Some(token) => match presented(request.headers()) {
            Some(presented) => token.matches(presented.as_bytes()),
            None => query_key(request.uri().query()).is_some_and(|t| token.matches(&t)),
        },
    };
    if allowed {
        request.extensions_mut().insert(Snapshot(config));
        next.run(request).await
    } else {
        Error::Unauthorized.into_response()
    }
}

/// The token a client sent, from either header.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    bearer
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
}

/// The token in a `key=` query parameter (Google's clients send it so),
/// percent-decoded.
fn query_key(query: Option<&str>) -> Option<Vec<u8>> {
    let key = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|key| !key.is_empty())?;
    Some(percent_encoding::percent_decode_str(key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_key_is_found_and_percent_decoded() {
        assert_eq!(
            query_key(Some("alt=sse&key=ab%2Bc%2F")),
            Some(b"ab+c/".to_vec())
        );
        assert_eq!(query_key(Some("key=")), None);
        assert_eq!(query_key(Some("monkey=x")), None);
        assert_eq!(query_key(None), None);
    }
}
