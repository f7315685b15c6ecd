//! CSRF: a random nonce in an HttpOnly cookie, and a form token made from it that every POST
//! must bring back (double submit, bound by the key) from our own origin, not cross-site.

use super::cookies::{read_cookie, set_cookie, with_cookies, CSRF, SESSION};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use deadbolt_core::random::RandomExt;

/// The CSRF nonce of this browser, found or made by [`page_layer`].
#[derive(Clone)]
struct CsrfNonce(String);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Gives every browser a CSRF nonce cookie (made on its first visit).
pub async fn page_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let found = read_cookie(&state, req.headers(), CSRF).filter(|v| v.len() == 64);
    let fresh = found.is_none();
    let nonce = found.unwrap_or_else(|| hex(&state.rng.bytes::<32>()));
    req.extensions_mut().insert(CsrfNonce(nonce.clone()));
    let response = next.run(req).await;
    if fresh {
        with_cookies(response, vec![set_cookie(&state, CSRF, &nonce, None)])
    } else {
        response
    }
}

/// The request's nonce, as [`page_layer`] left it; empty outside the pages' routes.
pub fn nonce(extensions: &Extensions) -> String {
    extensions
        .get::<CsrfNonce>()
        .map(|n| n.0.clone())
        .unwrap_or_default()
}

/// What a form token is bound to besides the browser's nonce: the session cookie as sent (empty
/// before sign-in). A nonce cookie planted from a sibling origin on the same host then still
/// yields no token good for someone else's session.
pub fn binding(state: &AppState, headers: &HeaderMap) -> String {
    read_cookie(state, headers, SESSION).unwrap_or_default()
}

pub fn token(state: &AppState, nonce: &str, binding: &str) -> String {
    state
        .keys
        .hasher()
        .hash(&[b"page-csrf", nonce.as_bytes(), binding.as_bytes()])
        .to_hex()
}

/// Whether `presented` is the token of this nonce and binding.
pub fn token_ok(state: &AppState, nonce: &str, binding: &str, presented: &str) -> bool {
    if nonce.is_empty() {
        return false;
    }
    let Some(bytes) = (0..presented.len())
        .step_by(2)
        .map(|i| {
            presented
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    // a form shown before a hashing-key rotation still posts
    state.keys.hashing().matches_any(
        state.clock.now(),
        &[b"page-csrf", nonce.as_bytes(), binding.as_bytes()],
        &bytes,
    )
}

/// The origin (`scheme://host[:port]`) of the public URL.
fn public_origin(state: &AppState) -> String {
    let url = state.config.server.public_url.to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => url,
    }
}

/// Whether a POST may come from our own pages, by what the browser says of it: `Origin` is
/// ours and `Sec-Fetch-Site` not cross-site (each where sent).
pub fn same_site(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
        if origin != public_origin(state) {
            return false;
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str().unwrap_or_default(), "same-origin" | "none") {
            return false;
        }
    }
    true
}
