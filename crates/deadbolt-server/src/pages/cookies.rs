//! The pages' cookies: their names, attributes and reading, and the signed session cookie.
//! Every value is HttpOnly; secrets live here or in the server's rows, never in a URL.

use crate::state::AppState;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use deadbolt_core::ids::SessionId;

/// Cookie names (prefixed, see [`cookie_name`]).
pub const SESSION: &str = "session";
pub const CSRF: &str = "csrf";
/// The mfa_token of a sign-in waiting for its second factor.
pub const PENDING: &str = "pending";
/// The trusted-device token.
pub const DEVICE: &str = "device";
/// The method last used to sign in on this browser (a method id; not a secret).
pub const LAST_METHOD: &str = "last-method";
/// The reset_token of a password reset under way.
pub const RESET: &str = "reset";
/// The challenge_token of a step-up under way.
pub const STEP_UP: &str = "step-up";

/// The OpenID Connect authorization request that waits while this browser signs in (an id,
/// never a secret).
pub const AUTHZ: &str = "authz";

/// The user code a device showed, waiting while this browser signs in or steps up to approve
/// it (`-` when the device page was opened without one).
pub const DEVICE_CODE: &str = "device-code";

/// How long the pending states live: the use cases' own tokens expire sooner or with them.
pub const PENDING_SECONDS: i64 = 600;

/// Cookies are Secure (and `__Host-` prefixed) unless the public URL is plain-http localhost.
pub fn secure(state: &AppState) -> bool {
    let url = state.config.server.public_url.to_ascii_lowercase();
    let Some(rest) = url.strip_prefix("http://") else {
        return true;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

pub fn cookie_name(state: &AppState, base: &str) -> String {
    if secure(state) {
        format!("__Host-deadbolt-{base}")
    } else {
        format!("deadbolt-{base}")
    }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure where [`secure`] says.
/// `max_age: None` is a browser-session cookie.
pub fn set_cookie(state: &AppState, base: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax",
        cookie_name(state, base)
    );
    if secure(state) {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    // values are tokens we made (base64url, hex, uuids): always valid header bytes
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(state: &AppState, base: &str) -> HeaderValue {
    set_cookie(state, base, "", Some(0))
}

/// The value of a cookie of ours; oversized or odd values count as absent.
pub fn read_cookie(state: &AppState, headers: &HeaderMap, base: &str) -> Option<String> {
    let name = cookie_name(state, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 256
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// A response with cookies added.
pub fn with_cookies(mut response: Response, cookies: Vec<HeaderValue>) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// The cookie value of a session: `<session id>.<HMAC of it under the service's hashing key>`,
/// opaque and unforgeable; the session's row decides whether it is still alive.
pub fn session_cookie_value(state: &AppState, sid: SessionId) -> String {
    let id = sid.to_string();
    let mac = state.keys.hasher().hash(&[b"page-session", id.as_bytes()]);
    format!("{id}.{}", mac.to_hex())
}

/// The `Set-Cookie` that signs this browser in to session `sid`.
pub fn session_cookie(state: &AppState, sid: SessionId) -> HeaderValue {
    set_cookie(
        state,
        SESSION,
        &session_cookie_value(state, sid),
        Some(state.config.session.absolute_seconds),
    )
}

/// The session a request's cookie names, where its HMAC is good (whether the session is still
/// alive is for its row to say).
pub fn signed_session(state: &AppState, headers: &HeaderMap) -> Option<SessionId> {
    let value = read_cookie(state, headers, SESSION)?;
    let (id, mac) = value.split_once('.')?;
    let sid = SessionId(uuid::Uuid::parse_str(id).ok()?);
    let mac = (0..mac.len())
        .step_by(2)
        .map(|i| {
            mac.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    // a cookie made before a hashing-key rotation stays good for its session's life, which
    // the retired key outlasts
    state
        .keys
        .hashing()
        .matches_any(
            state.clock.now(),
            &[b"page-session", sid.to_string().as_bytes()],
            &mac,
        )
        .then_some(sid)
}
