//! Request bodies: read up to the configured size and time limits (413 and
//! 408 beyond them) and parse JSON with errors that name the field (400).

use std::time::Duration;

use axum::body::{Body, Bytes};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Reads the whole body, refusing more than `limit` bytes or a body that
/// takes longer than `timeout` to arrive (a slow sender would hold its
/// connection and memory forever). A `Content-Length` past the limit is
/// refused before anything is read.
pub(super) async fn body_bytes(
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Error> {
    let too_large = || {
        Error::TooLarge(format!(
            "the request body is larger than {limit} bytes (server.max_body_bytes)"
        ))
    };
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(too_large());
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            Error::RequestTimeout(format!(
                "the request body did not arrive within {}s (server.body_timeout_seconds)",
                timeout.as_secs()
            ))
        })?;
    read.map_err(|e| {
        let over_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            Error::InvalidRequest(format!("could not read the request body: {e}"))
        }
    })
}

/// Parses JSON, naming the offending field on error.
pub(super) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidRequest(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            Error::InvalidRequest(format!("invalid JSON body: {inner}"))
        } else {
            Error::InvalidRequest(format!("invalid JSON body at `{path}`: {inner}"))
        }
    })?;
    // One JSON value, nothing after it but whitespace.
    deserializer.end().map_err(|e| {
        Error::InvalidRequest(format!(
            "invalid JSON body: unexpected data after the JSON object ({e})"
        ))
    })?;
    Ok(value)
}
