//! Form posts: the [`PageForm`] extractor, which lets through only what passes the CSRF check,
//! and the helpers for its fields.

use super::csrf;
use super::page_error::PageError;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A form POST from our own pages: same origin, not cross-site, with the right CSRF token.
/// Its fields are parsed into `T` (unknown fields, such as `csrf`, are ignored).
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        if !csrf::same_site(state, req.headers()) {
            return Err(PageError::Csrf);
        }
        let nonce = csrf::nonce(req.extensions());
        let binding = csrf::binding(state, req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::Api(ApiError::PayloadTooLarge)
            } else {
                PageError::BadForm
            }
        })?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        let presented = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        if !csrf::token_ok(state, &nonce, &binding, presented) {
            return Err(PageError::Csrf);
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(PageForm)
            .map_err(|_| PageError::BadForm)
    }
}

/// A form with nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// An empty form field is an absent one.
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
