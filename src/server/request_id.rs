//! Gives every request an id: in the `x-request-id` response header (error
//! answers included) and in the request's log lines.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The id of the request being served.
#[derive(Debug, Clone)]
pub(super) struct RequestId(pub(super) String);

/// A new id: 12 hex digits, distinct for each request of this process
/// (a counter from a random start, scrambled by a bijection), without a
/// system call for randomness each time.
fn next_id() -> String {
    static START: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64's finaliser: a bijection of u64, so distinct inputs give
    // distinct outputs; 48 of its bits are shown.
    let mut z = start.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{:012x}", z >> 16)
}

/// Adds a [`RequestId`] to the request and the `x-request-id` header to its response.
pub(super) async fn assign(mut request: Request, next: Next) -> Response {
    let id = next_id();
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_12_hex_digits_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| super::next_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()))
        );
    }
}
