//! `Cache-Control: no-store` on every API response: they carry tokens, secrets, codes and
//! personal data, which no cache between the service and its client may keep (RFC 6749
//! section 5.1 asks it of token responses; the rest deserve no less).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The paths whose answers must not be stored.
fn is_api(path: &str) -> bool {
    path.starts_with("/v1/")
}

pub async fn layer(request: Request, next: Next) -> Response {
    let api = is_api(request.uri().path());
    let mut response = next.run(request).await;
    if api {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}
