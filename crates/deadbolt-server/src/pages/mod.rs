//! The hosted pages: sign-in with the second-factor challenge, sign-up, password reset, the
//! enrolment wizard, the account's security page and the admin pages. Rendered on the server
//! from the minijinja templates under `templates/pages/` (embedded in the binary), with one
//! stylesheet and one small script served from `/static/`. Every page is another client of the
//! use cases the JSON API calls: no rule lives here.
//!
//! Safety: a strict Content-Security-Policy (no inline script or style), `frame-ancestors
//! 'none'`, a CSRF token in every form checked with Origin and Sec-Fetch-Site on every POST
//! (see `csrf`), and secrets only in HttpOnly cookies or the server's rows, never in a URL.

mod account;
mod admin;
mod approvals;
pub mod cookies;
mod csrf;
mod device;
mod enroll;
mod first_factor;
mod form;
pub mod oidc;
mod page_error;
mod reset;
mod resume;
mod sign_in;
mod step_up;
pub mod web;

use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use deadbolt_usecases::DomainError;
use minijinja::{AutoEscape, Environment, Value};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The Content-Security-Policy of every page: scripts and styles only from our own files.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/pages/base.html")),
    (
        "macros.html",
        include_str!("../../templates/pages/macros.html"),
    ),
    (
        "error.html",
        include_str!("../../templates/pages/error.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../templates/pages/sign_in.html"),
    ),
    (
        "challenge.html",
        include_str!("../../templates/pages/challenge.html"),
    ),
    (
        "factor_form.html",
        include_str!("../../templates/pages/factor_form.html"),
    ),
    (
        "sign_up.html",
        include_str!("../../templates/pages/sign_up.html"),
    ),
    (
        "verify_email.html",
        include_str!("../../templates/pages/verify_email.html"),
    ),
    (
        "forgot.html",
        include_str!("../../templates/pages/forgot.html"),
    ),
    (
        "forgot_code.html",
        include_str!("../../templates/pages/forgot_code.html"),
    ),
    (
        "forgot_new.html",
        include_str!("../../templates/pages/forgot_new.html"),
    ),
    (
        "account.html",
        include_str!("../../templates/pages/account.html"),
    ),
    (
        "enroll_choose.html",
        include_str!("../../templates/pages/enroll_choose.html"),
    ),
    (
        "enroll_totp.html",
        include_str!("../../templates/pages/enroll_totp.html"),
    ),
    (
        "enroll_code.html",
        include_str!("../../templates/pages/enroll_code.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../../templates/pages/recovery_codes.html"),
    ),
    (
        "step_up.html",
        include_str!("../../templates/pages/step_up.html"),
    ),
    (
        "guard.html",
        include_str!("../../templates/pages/guard.html"),
    ),
    (
        "webauthn_fields.html",
        include_str!("../../templates/pages/webauthn_fields.html"),
    ),
    (
        "push_fields.html",
        include_str!("../../templates/pages/push_fields.html"),
    ),
    (
        "enroll_webauthn.html",
        include_str!("../../templates/pages/enroll_webauthn.html"),
    ),
    (
        "password.html",
        include_str!("../../templates/pages/password.html"),
    ),
    (
        "contact.html",
        include_str!("../../templates/pages/contact.html"),
    ),
    (
        "contact_code.html",
        include_str!("../../templates/pages/contact_code.html"),
    ),
    (
        "delete.html",
        include_str!("../../templates/pages/delete.html"),
    ),
    (
        "admin.html",
        include_str!("../../templates/pages/admin.html"),
    ),
    (
        "admin_policy.html",
        include_str!("../../templates/pages/admin_policy.html"),
    ),
    (
        "leaving.html",
        include_str!("../../templates/pages/leaving.html"),
    ),
    (
        "consent.html",
        include_str!("../../templates/pages/consent.html"),
    ),
    (
        "device.html",
        include_str!("../../templates/pages/device.html"),
    ),
    (
        "device_confirm.html",
        include_str!("../../templates/pages/device_confirm.html"),
    ),
    (
        "device_done.html",
        include_str!("../../templates/pages/device_done.html"),
    ),
    (
        "logout.html",
        include_str!("../../templates/pages/logout.html"),
    ),
];

/// A file under `/static/`: its bytes, its type and a short hash of its content (in the URL,
/// so it can be cached for a year and still change with a new build).
struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
    hash: String,
}

const ASSET_FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../templates/pages/static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../templates/pages/static/app.js"),
    ),
];

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        ASSET_FILES
            .iter()
            .map(|(name, mime, body)| Asset {
                name,
                mime,
                body,
                hash: Sha256::digest(body)
                    .iter()
                    .take(6)
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            })
            .collect()
    })
}

/// `/static/<hash>/<name>` of an asset.
fn asset_url(name: &str) -> String {
    assets()
        .iter()
        .find(|a| a.name == name)
        .map_or_else(String::new, |a| format!("/static/{}/{}", a.hash, a.name))
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // every page is HTML: escape everything that is not marked safe
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // a broken template is a build mistake; the test suite renders every page
                tracing::error!(template = name, error = %e, "page template does not parse");
            }
        }
        env.add_global("css_url", asset_url("app.css"));
        env.add_global("js_url", asset_url("app.js"));
        env
    })
}

/// Renders a page template with its context; a template error is logged and answered with a
/// bare 500 (never the error's text).
pub fn render(status: StatusCode, template: &str, ctx: Value) -> Response {
    let rendered = environment()
        .get_template(template)
        .and_then(|t| t.render(ctx));
    match rendered {
        Ok(html) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// 303 See Other to a path of ours.
pub fn see_other(path: &str) -> Response {
    let location = if path.starts_with('/') && !path.starts_with("//") {
        path
    } else {
        "/"
    };
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

/// The pages' routes, with their security headers and CSRF cookie.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(sign_in::router())
        .merge(reset::router())
        .merge(account::router())
        .merge(enroll::router())
        .merge(approvals::router())
        .merge(step_up::router())
        .merge(resume::router())
        .merge(admin::router())
        .merge(oidc::router())
        .merge(device::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::page_layer,
        ))
        .route("/static/{hash}/{name}", get(static_file))
        .layer(axum::middleware::from_fn_with_state(
            state,
            security_headers,
        ))
}

/// Where no route matched: a page for a browser asking for HTML outside the API's paths, the
/// API's problem+json `not_found` for everything else.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    let api = path.starts_with("/v1/") || path.starts_with("/.well-known/");
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if api || !wants_html {
        return crate::error::ApiError::from(DomainError::NotFound).into_response();
    }
    let mut response = page_error::PageError::NotFound.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A static file. The right hash is cached for a year; an old hash still gets the file, but
/// uncached.
async fn static_file(Path((hash, name)): Path<(String, String)>) -> Response {
    let Some(asset) = assets().iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if asset.hash == hash {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, asset.mime),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body,
    )
        .into_response()
}

/// A year: browsers that saw the service over HTTPS keep to HTTPS for it. Not
/// `includeSubDomains`: the operator's other hosts are not ours to decide for.
const HSTS: &str = "max-age=31536000";

/// The headers every page and asset carries.
async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let url = &state.config.server.public_url;
    if url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // not `no-referrer`: with it Chromium sends `Origin: null` on our own form posts, and the
    // Origin check could no longer tell them from a cross-site post
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // pages show account data and one-time secrets: never stored by the browser
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    /// Every template parses and renders, signed in or not, with an error shown or not: a
    /// mistake in one is found here rather than by a person.
    #[test]
    fn every_template_renders() {
        let method = context! { id => "00000000-0000-0000-0000-000000000001", type => "totp",
        label => "Authenticator app", hint => "j***@example.com", primary => true };
        let user = context! { email => "a@example.com", admin => true, enrollment_only => false };
        for (name, _) in TEMPLATES {
            if *name == "macros.html" {
                continue;
            }
            for signed_in in [false, true] {
                for error in [false, true] {
                    let ctx = context! {
                        csrf => "00ff",
                        path => "/account",
                        user => signed_in.then(|| user.clone()),
                        error => error.then(|| context! { field => "code", message => "Wrong" }),
                        method => method.clone(),
                        others => vec![method.clone()],
                        choices => Vec::<Value>::new(),
                        codes => vec!["abcd-efgh-jkmn-pqrs"],
                        title => "t", text => "x", kind => "email", label => "Email address",
                        url => "https://app.example.com/cb?code=x&state=y", client_name => "App",
                        scopes => vec!["See your email address"],
                    };
                    let out = environment()
                        .get_template(name)
                        .and_then(|t| t.render(ctx))
                        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
                    assert!(!out.contains("style="), "{name} has an inline style");
                    assert!(!out.contains("<script>"), "{name} has an inline script");
                }
            }
        }
    }
}
