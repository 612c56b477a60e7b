//! Gives every request an id: in the `x-request-id` response header (error
//! answers included) and in the request's log lines.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The id of the request being served.
#[derive(Debug, Clone)]
pub(super) struct RequestId(pub(super) String);

/// Adds a [`RequestId`] to the request and the `x-request-id` header to its response.
pub(super) async fn assign(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}
