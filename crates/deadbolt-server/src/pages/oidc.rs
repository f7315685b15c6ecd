//! The browser's side of OpenID Connect: the authorization endpoint, the request waiting in a
//! cookie while the person signs in, steps up or consents on the hosted pages, the consent
//! page, and RP-initiated logout.
//!
//! A form of ours never redirects straight to a client: `form-action 'self'` would stop the
//! browser. After a form, the way out is a page that sends the browser on ([`leave_for`]).

use super::cookies::{clear_cookie, set_cookie, with_cookies, AUTHZ, DEVICE, SESSION};
use super::form::{given, PageForm};
use super::page_error::{PageError, PageResult};
use super::see_other;
use super::step_up::{self, Op};
use super::web::{Page, SignedIn};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use deadbolt_core::account::Account;
use deadbolt_core::oidc::REQUEST_TTL;
use deadbolt_core::secret::Secret;
use deadbolt_store::AuthorizationRecord;
use deadbolt_usecases::client::Principal;
use deadbolt_usecases::oidc::authorize::{self, AuthorizeParams, Next, Refused};
use deadbolt_usecases::oidc::consent;
use deadbolt_usecases::oidc::logout::{self, LogoutParams};
use deadbolt_usecases::oidc::OidcError;
use deadbolt_usecases::{sessions, subject_login, DomainError};
use minijinja::context;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize_get).post(authorize_post))
        .route("/oauth2/continue", get(continue_request))
        .route("/oauth2/consent", get(consent_page).post(consent_answer))
        .route("/oauth2/logout", get(logout_get).post(logout_post))
        .route("/oauth2/logout/confirm", post(logout_confirm))
        .route("/account/apps/revoke", post(revoke_app))
}

/// 303 to a client's redirect URI, for a request no form of ours sent.
fn to_client(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => see_other("/"),
    }
}

/// A page that sends the browser on to a client: after a form post, where a redirect to
/// another origin would break `form-action 'self'`.
fn leave_for(page: &Page, url: &str) -> Response {
    page.render("leaving.html", context! { url => url })
}

/// The error page for a request that cannot be sent back to any client.
fn refused_page(page: &Page, text: &str) -> Response {
    super::render(
        StatusCode::BAD_REQUEST,
        "error.html",
        page.ctx(context! { title => "This sign-in link is not valid", text => text }),
    )
}

fn oidc_failure(page: &Page, e: OidcError) -> Response {
    match e {
        OidcError::Domain(d) => page.error_page(d.into()),
        OidcError::OAuth(o) => refused_page(page, &o.description),
    }
}

/// A request's parameters from the query; a parameter given twice, or anything that does not
/// parse, is a link nobody can trust (RFC 6749 section 3.1), shown on a page.
fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, PageError> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|_| PageError::BadForm)
}

async fn authorize_get(page: Page, RawQuery(raw): RawQuery) -> Response {
    match query(raw.as_deref()) {
        Ok(params) => authorize(page, params).await,
        Err(_) => refused_page(
            &page,
            "The sign-in link is malformed: a parameter is repeated or unreadable.",
        ),
    }
}

/// A form a client's page posts to us (no CSRF token of ours: it comes from the client).
fn client_form<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|_| PageError::BadForm)
}

/// A POSTed request goes on as the same request by GET: a form posted from another site
/// carries no `SameSite=Lax` cookie, so only the GET sees who is signed in.
async fn authorize_post(page: Page, body: Bytes) -> Response {
    match client_form::<AuthorizeParams>(&body) {
        Ok(_) => as_get("/oauth2/authorize", &body),
        Err(_) => refused_page(
            &page,
            "The sign-in request is malformed: a parameter is repeated or unreadable.",
        ),
    }
}

/// 303 to `path` with a form's fields as its query.
fn as_get(path: &str, body: &Bytes) -> Response {
    match std::str::from_utf8(body) {
        Ok(query) if !query.is_empty() => see_other(&format!("{path}?{query}")),
        _ => see_other(path),
    }
}

/// The authorization endpoint: a code at once when the session serves, else the request waits
/// while the person does what is missing.
async fn authorize(page: Page, params: AuthorizeParams) -> Response {
    let checked = match authorize::check(&page.state, &page.client, params).await {
        Ok(c) => c,
        Err(Refused::Shown(text)) => return refused_page(&page, text),
        Err(Refused::Redirect(url)) => return to_client(&url),
    };
    let next = authorize::proceed(
        &page.state,
        &page.client,
        &checked.request,
        false,
        checked.silent,
        viewer(&page),
    )
    .await;
    match next {
        Ok(Next::Redirect(url)) => to_client(&url),
        Ok(next) => {
            if let Err(e) = authorize::wait(&page.state, &checked.request).await {
                return oidc_failure(&page, e);
            }
            let page_for_next = match next {
                Next::SubjectSignIn => subject_sign_in(&page, &checked.request).await,
                next => go_to(&page, next),
            };
            with_cookies(
                page_for_next,
                vec![set_cookie(
                    &page.state,
                    AUTHZ,
                    &checked.request.id,
                    Some(REQUEST_TTL.whole_seconds()),
                )],
            )
        }
        Err(e) => oidc_failure(&page, e),
    }
}

/// The browser's signed-in account, for [`authorize::proceed`].
fn viewer(page: &Page) -> Option<(&Principal, &Account)> {
    page.viewer.as_ref().map(|v| (&v.who, &v.account))
}

/// The client's subject a signed request names signs in: the client checked the first
/// factor, so this goes straight to the second (or to its enrolment, or past it on a trusted
/// device).
async fn subject_sign_in(page: &Page, request: &AuthorizationRecord) -> Response {
    let device = page.cookie(DEVICE).map(Secret::new);
    // the browser holds the session this request's subject sign-in made (it has just set up
    // its first factor): the sign-in goes on, and is not begun again
    let resumed = page
        .viewer
        .as_ref()
        .is_some_and(|v| authorize::signed_in_for(request, &v.who, &v.account));
    let started =
        subject_login::start(&page.state, &page.client, request, device.as_ref(), resumed).await;
    match started {
        Ok(outcome) => super::first_factor::after_first_factor(page, outcome, true).await,
        Err(DomainError::PreconditionFailed) => refused_page(
            page,
            "This sign-in was already begun. Go back to the application and sign in again.",
        ),
        Err(e) => page.error_page(e.into()),
    }
}

/// The page that does what a request is waiting for.
fn go_to(page: &Page, next: Next) -> Response {
    match next {
        Next::Redirect(url) => leave_for(page, &url),
        // a browser already signed in sees the form anyway (prompt=login)
        Next::SignIn
            if page
                .viewer
                .as_ref()
                .is_some_and(|v| v.account.subject_of.is_none()) =>
        {
            see_other("/sign-in?again=1")
        }
        Next::SignIn => see_other("/sign-in"),
        Next::StepUp => see_other("/oauth2/continue"),
        Next::Consent => see_other("/oauth2/consent"),
        Next::Enrol => see_other("/account/mfa/new"),
        // answered by `subject_sign_in` where the request is at hand; here, start over
        Next::SubjectSignIn => see_other("/oauth2/continue?expired=1"),
    }
}

/// The request this browser's cookie names, while it may still be answered.
async fn waiting(page: &Page) -> Result<AuthorizationRecord, PageError> {
    let id = page.cookie(AUTHZ).ok_or(PageError::Redirect("/".into()))?;
    match authorize::waiting(&page.state, &id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(PageError::Redirect("/oauth2/continue?expired=1".into())),
        Err(OidcError::Domain(d)) => Err(d.into()),
        Err(OidcError::OAuth(_)) => Err(PageError::BadForm),
    }
}

#[derive(Deserialize)]
struct ContinueQuery {
    expired: Option<String>,
    /// The person cancelled a step of the sign-in: the application hears `access_denied`.
    cancel: Option<String>,
}

/// Goes on with the waiting request after a sign-in, step-up or consent.
async fn continue_request(page: Page, Query(q): Query<ContinueQuery>) -> PageResult {
    if q.expired.is_some() {
        return Ok(with_cookies(
            super::render(
                StatusCode::BAD_REQUEST,
                "error.html",
                page.ctx(context! {
                    title => "This sign-in took too long",
                    text => "Go back to the application and sign in again.",
                }),
            ),
            vec![clear_cookie(&page.state, AUTHZ)],
        ));
    }
    let request = waiting(&page).await?;
    if q.cancel.is_some() {
        let url = authorize::error_url(
            &page.state,
            &request,
            "access_denied",
            "the person cancelled the sign-in",
        );
        return Ok(with_cookies(
            leave_for(&page, &url),
            vec![clear_cookie(&page.state, AUTHZ)],
        ));
    }
    let next = authorize::proceed(
        &page.state,
        &page.client,
        &request,
        true,
        false,
        viewer(&page),
    )
    .await;
    match next {
        Ok(Next::Redirect(url)) => Ok(with_cookies(
            leave_for(&page, &url),
            vec![clear_cookie(&page.state, AUTHZ)],
        )),
        Ok(Next::StepUp) => {
            step_up::start(&page, Op::Authorize, || async {
                Ok(see_other("/oauth2/continue"))
            })
            .await
        }
        Ok(Next::SubjectSignIn) => Ok(subject_sign_in(&page, &request).await),
        Ok(next) => Ok(go_to(&page, next)),
        Err(e) => Ok(oidc_failure(&page, e)),
    }
}

/// The scopes, in words a person can judge.
pub(super) fn scope_words(scope: &str) -> Vec<&'static str> {
    scope
        .split_whitespace()
        .filter_map(|s| {
            Some(match s {
                "openid" => "Know who you are on this service",
                "profile" => "See your basic profile",
                "email" => "See your email address",
                "phone" => "See your phone number",
                "offline_access" => "Stay signed in to it while you are away",
                _ => return None,
            })
        })
        .collect()
}

async fn consent_page(SignedIn(page): SignedIn) -> PageResult {
    let request = waiting(&page).await?;
    let client = consent::client_of(&page.state, &request).await?;
    Ok(page.render(
        "consent.html",
        context! {
            client_name => client.name,
            request_id => request.id,
            scopes => scope_words(&request.scope),
            redirect_host => url::Url::parse(&request.redirect_uri).ok().and_then(|u| u.host_str().map(str::to_owned)),
        },
    ))
}

#[derive(Deserialize)]
struct ConsentForm {
    decision: Option<String>,
    /// The request the page showed: the answer is for it alone, whatever request another tab
    /// has put in the cookie since.
    request: Option<String>,
}

async fn consent_answer(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<ConsentForm>,
) -> PageResult {
    let request = waiting(&page).await?;
    if given(&form.request) != Some(request.id.as_str()) {
        return Err(PageError::Redirect("/oauth2/consent".into()));
    }
    match given(&form.decision) {
        Some("allow") => {
            let viewer = page.viewer()?;
            consent::grant(&page.state, &page.client, &viewer.who, &request).await?;
            Ok(see_other("/oauth2/continue"))
        }
        Some("deny") => {
            let url = authorize::error_url(
                &page.state,
                &request,
                "access_denied",
                "the person did not allow this application",
            );
            Ok(with_cookies(
                leave_for(&page, &url),
                vec![clear_cookie(&page.state, AUTHZ)],
            ))
        }
        _ => Err(PageError::BadForm),
    }
}

async fn logout_get(page: Page, RawQuery(raw): RawQuery) -> PageResult {
    logout(page, query(raw.as_deref())?).await
}

async fn logout_post(body: Bytes) -> PageResult {
    client_form::<LogoutParams>(&body)?;
    Ok(as_get("/oauth2/logout", &body))
}

/// RP-initiated logout: a browser signed in as the hint's account signs out at once; any
/// other signed-in browser is asked first (a link alone must not sign anyone out).
async fn logout(page: Page, params: LogoutParams) -> PageResult {
    let form_params = params.clone();
    let checked = match logout::check(&page.state, params).await {
        Ok(c) => c,
        Err(text) => return Ok(refused_page(&page, text)),
    };
    let Some(viewer) = page.viewer.as_ref() else {
        return Ok(signed_out(&page, checked.then.as_deref(), false));
    };
    if logout::hint_names(&page.state, &checked, &viewer.account).await? {
        sessions::logout(&page.state, &page.client, &viewer.who).await?;
        return Ok(signed_out(&page, checked.then.as_deref(), true));
    }
    Ok(page.render(
        "logout.html",
        context! {
            client_name => checked.client_name,
            post_logout_redirect_uri => form_params.post_logout_redirect_uri,
            state => form_params.state,
            client_id => checked.client_id,
        },
    ))
}

#[derive(Deserialize)]
struct ConfirmForm {
    decision: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

async fn logout_confirm(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<ConfirmForm>,
) -> PageResult {
    if given(&form.decision) != Some("sign_out") {
        return Ok(see_other("/account"));
    }
    // checked again as the client's request was: only a registered URI is followed
    let params = LogoutParams {
        id_token_hint: None,
        post_logout_redirect_uri: form.post_logout_redirect_uri,
        state: form.state,
        client_id: form.client_id,
    };
    let then = match logout::check(&page.state, params).await {
        Ok(c) => c.then,
        Err(text) => return Ok(refused_page(&page, text)),
    };
    let viewer = page.viewer()?;
    sessions::logout(&page.state, &page.client, &viewer.who).await?;
    Ok(signed_out(&page, then.as_deref(), true))
}

fn signed_out(page: &Page, then: Option<&str>, clear: bool) -> Response {
    let response = match then {
        Some(url) => leave_for(page, url),
        None => see_other("/sign-in?notice=signed-out"),
    };
    if clear {
        with_cookies(response, vec![clear_cookie(&page.state, SESSION)])
    } else {
        response
    }
}

#[derive(Deserialize)]
struct AppForm {
    client_id: Option<String>,
}

/// Takes back what the viewer allowed an application (from the security page).
async fn revoke_app(SignedIn(page): SignedIn, PageForm(form): PageForm<AppForm>) -> PageResult {
    let client_id = given(&form.client_id)
        .filter(|id| id.len() <= 64)
        .ok_or(PageError::BadForm)?;
    let viewer = page.viewer()?;
    consent::revoke(&page.state, &page.client, &viewer.who, client_id).await?;
    Ok(see_other("/account?notice=app-revoked"))
}
