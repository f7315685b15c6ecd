//! The hosted pages' form posts and cookies, through the service's real router: the CSRF
//! layer and check, the cookie reader, the form types and the handlers behind them.

use crate::fixture::fixture;
use deadbolt_server::pages::cookies::{self, read_cookie};
use tower::ServiceExt as _;

/// Every form a page posts, except signing out and deleting the account (which would end the
/// fixture's session for all later inputs).
const PATHS: &[&str] = &[
    "/sign-in",
    "/sign-in/verify",
    "/sign-in/send",
    "/sign-in/passkey",
    "/sign-up",
    "/sign-up/verify",
    "/sign-up/resend",
    "/forgot-password",
    "/forgot-password/verify",
    "/forgot-password/send",
    "/forgot-password/complete",
    "/account/mfa/primary",
    "/account/mfa/remove",
    "/account/mfa/recovery-codes",
    "/account/mfa/disable",
    "/account/devices/revoke",
    "/account/sessions/revoke",
    "/account/email",
    "/account/phone",
    "/account/contact/verify",
    "/account/mfa/totp",
    "/account/mfa/email",
    "/account/mfa/phone",
    "/account/mfa/webauthn",
    "/account/mfa/confirm",
    "/account/mfa/resend",
    "/admin/lookup",
    "/admin/accounts/mfa-reset",
    "/admin/accounts/unlock",
    "/admin/policy",
    "/step-up/start",
    "/step-up/send",
    "/step-up/verify",
];

const COOKIES: &[&str] = &[
    cookies::SESSION,
    cookies::CSRF,
    cookies::PENDING,
    cookies::DEVICE,
    cookies::LAST_METHOD,
    cookies::RESET,
    cookies::STEP_UP,
];

/// Byte 0 picks the form, byte 1's bits add a valid CSRF token, the session cookie and the
/// fuzzed cookies; the rest is `cookies\nbody`.
pub fn pages(data: &[u8]) {
    let [pick, flags, rest @ ..] = data else {
        return;
    };
    let f = fixture();
    let path = PATHS[usize::from(*pick) % PATHS.len()];
    let (cookies, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let signed_in = flags & 2 != 0;
    let mut cookie = format!("deadbolt-csrf={}", f.csrf_nonce);
    if signed_in {
        cookie.push_str("; ");
        cookie.push_str(&f.session_cookie);
    }
    let mut headers = axum::http::HeaderMap::new();
    if flags & 4 != 0 {
        if let Ok(extra) = axum::http::HeaderValue::from_bytes(cookies) {
            headers.append(axum::http::header::COOKIE, extra);
        }
    }
    check_cookies(&headers);
    let mut body = body.to_vec();
    if flags & 1 != 0 {
        let token = if signed_in {
            &f.csrf_signed_in
        } else {
            &f.csrf_anonymous
        };
        body.extend_from_slice(format!("&csrf={token}").as_bytes());
    }
    let Ok(mut request) = axum::http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .header("cookie", cookie)
        .body(axum::body::Body::from(body))
    else {
        return;
    };
    for v in headers.get_all(axum::http::header::COOKIE) {
        request
            .headers_mut()
            .append(axum::http::header::COOKIE, v.clone());
    }
    let response = match f.rt.block_on(f.router.clone().oneshot(request)) {
        Ok(r) => r,
        Err(e) => match e {},
    };
    // a form, however malformed, gets a page or a redirect: never an internal error
    assert!(
        !response.status().is_server_error(),
        "{path} answered {}",
        response.status()
    );
}

/// What the cookie reader hands the pages: our cookies only, short and of token characters.
fn check_cookies(headers: &axum::http::HeaderMap) {
    let state = &fixture().state;
    for base in COOKIES {
        if let Some(v) = read_cookie(state, headers, base) {
            assert!(!v.is_empty() && v.len() <= 256);
            assert!(v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        }
    }
}

pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let index = |path: &str| PATHS.iter().position(|p| *p == path).unwrap_or(0) as u8;
    let seed = |path: &str, flags: u8, rest: &str| {
        let mut v = vec![index(path), flags];
        v.extend_from_slice(rest.as_bytes());
        v
    };
    vec![
        (
            "pages",
            "sign_in",
            seed(
                "/sign-in",
                1,
                "\nemail=fuzz%40example.com&password=correct+horse+battery+staple+42",
            ),
        ),
        (
            "pages",
            "sign_in_no_csrf",
            seed("/sign-in", 0, "\nemail=a%40b.co&password=x"),
        ),
        (
            "pages",
            "sign_up",
            seed(
                "/sign-up",
                1,
                "\nemail=new%40example.com&password=an+unguessable+passphrase+9",
            ),
        ),
        (
            "pages",
            "verify_code",
            seed(
                "/sign-in/verify",
                5,
                "deadbolt-pending=abc.def\ntype=totp&code=123+456",
            ),
        ),
        (
            "pages",
            "reset",
            seed("/forgot-password", 1, "\nemail=fuzz%40example.com"),
        ),
        ("pages", "enroll_totp", seed("/account/mfa/totp", 3, "\n")),
        (
            "pages",
            "step_up",
            seed("/step-up/start", 3, "\nop=password.change&next=%2Faccount"),
        ),
        (
            "pages",
            "cookies",
            seed(
                "/account/email",
                7,
                "deadbolt-session=x.y; deadbolt-csrf=; deadbolt-step-up=%00; a=b=c\nemail=x%40y.z",
            ),
        ),
    ]
}
