//! The device page (`/device`, RFC 8628's verification URI): a signed-in person types the code
//! their TV or console shows (or follows its QR code, which fills it in), checks what is
//! asking (the application, the device's address, place and time), and approves or denies.
//!
//! The code a link fills in is never looked up until the person presses Continue: a link sent
//! by someone else must not approve anything on one click (RFC 8628 section 5.4). A person not
//! signed in signs in first; the code waits in a cookie meanwhile.

use super::account::when;
use super::cookies::{clear_cookie, set_cookie, with_cookies, DEVICE_CODE, PENDING_SECONDS};
use super::form::{given, PageForm};
use super::page_error::{message, PageError, PageResult};
use super::see_other;
use super::step_up::{self, Op};
use super::web::{Page, SignedIn};
use crate::state::AppState;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use deadbolt_core::device_grant::UserCode;
use deadbolt_usecases::oidc::device::{self, NotShown, Waiting};
use deadbolt_usecases::DomainError;
use minijinja::context;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/device", get(entry).post(review))
        .route("/device/answer", post(answer))
}

#[derive(Deserialize)]
struct EntryQuery {
    user_code: Option<String>,
}

/// The code as the form shows it: a well-formed code in its dashed form, else as given.
fn shown(typed: &str) -> String {
    UserCode::parse(typed).map_or_else(|| typed.to_owned(), |c| c.display())
}

/// The code entry form, filled in from the link (or from before the sign-in); a person not
/// signed in is sent to sign in first, and comes back here.
async fn entry(page: Page, Query(q): Query<EntryQuery>) -> Response {
    let from_link = q.user_code.as_deref().and_then(UserCode::parse);
    if page.viewer.is_none() {
        // the code (or that there was none) waits for the sign-in: `after_sign_in` comes back
        let kept = from_link.map_or_else(|| "-".to_owned(), |c| c.normalized().to_owned());
        return with_cookies(
            see_other("/sign-in"),
            vec![set_cookie(
                &page.state,
                DEVICE_CODE,
                &kept,
                Some(PENDING_SECONDS),
            )],
        );
    }
    let kept = page
        .cookie(DEVICE_CODE)
        .as_deref()
        .and_then(UserCode::parse);
    let code = from_link.or(kept).map(|c| c.display()).unwrap_or_default();
    let response = page.render("device.html", context! { user_code => code });
    with_cookies(response, vec![clear_cookie(&page.state, DEVICE_CODE)])
}

#[derive(Deserialize)]
struct CodeForm {
    user_code: Option<String>,
}

fn entry_error(page: &Page, status: StatusCode, typed: &str, text: &str) -> Response {
    page.form_error(
        status,
        "device.html",
        "user_code",
        text,
        context! { user_code => shown(typed) },
    )
}

fn not_shown_text(why: NotShown) -> &'static str {
    match why {
        NotShown::Unknown => {
            "That code is not right. Check the code on your device's screen and type it again."
        }
        NotShown::Expired => "That code has expired. Start again on your device to get a new one.",
        NotShown::Answered => "That code has been used already. Start again on your device.",
    }
}

/// The request the typed code names, to approve or deny.
async fn review(SignedIn(page): SignedIn, PageForm(form): PageForm<CodeForm>) -> PageResult {
    let typed = given(&form.user_code).unwrap_or_default().trim().to_owned();
    if typed.is_empty() {
        return Ok(entry_error(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            "Enter the code your device shows.",
        ));
    }
    let viewer = page.viewer()?;
    match device::find(&page.state, &page.client, &viewer.who, &typed).await {
        Ok(Ok(waiting)) => Ok(confirm_page(&page, &waiting)),
        Ok(Err(why)) => Ok(entry_error(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            &typed,
            not_shown_text(why),
        )),
        Err(e @ DomainError::TooManyAttempts { .. }) => Ok(entry_error(
            &page,
            StatusCode::TOO_MANY_REQUESTS,
            &typed,
            &message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}

fn confirm_page(page: &Page, w: &Waiting) -> Response {
    page.render(
        "device_confirm.html",
        context! {
            user_code => w.user_code.display(),
            client_name => w.client_name,
            scopes => super::oidc::scope_words(&w.scope),
            requested_at => when(w.requested_at),
            expires_at => when(w.expires_at),
            ip => w.ip,
            place => w.place,
            user_agent => w.user_agent.as_deref().map(super::account::ua_words),
        },
    )
}

#[derive(Deserialize)]
struct AnswerForm {
    user_code: Option<String>,
    decision: Option<String>,
}

/// Approve or deny. An approval from a session whose last check is not recent asks for a
/// step-up first (`device.approve`), with the code kept in a cookie, then goes on
/// ([`approve_after_step_up`]).
async fn answer(SignedIn(page): SignedIn, PageForm(form): PageForm<AnswerForm>) -> PageResult {
    let typed = given(&form.user_code).unwrap_or_default();
    let Some(code) = UserCode::parse(typed) else {
        return Ok(entry_error(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            typed,
            not_shown_text(NotShown::Unknown),
        ));
    };
    let approve = match given(&form.decision) {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err(PageError::BadForm),
    };
    let viewer = page.viewer()?;
    match device::decide(&page.state, &page.client, &viewer.who, &code, approve).await {
        Err(DomainError::StepUpRequired { .. }) => {
            let kept = set_cookie(
                &page.state,
                DEVICE_CODE,
                code.normalized(),
                Some(PENDING_SECONDS),
            );
            let next =
                step_up::start(&page, Op::ApproveDevice, || decided(&page, &code, true)).await?;
            Ok(with_cookies(next, vec![kept]))
        }
        Err(e @ DomainError::TooManyAttempts { .. }) => Ok(entry_error(
            &page,
            StatusCode::TOO_MANY_REQUESTS,
            &code.display(),
            &message(&e),
        )),
        Err(DomainError::LocationNotAllowed) => Ok(entry_error(
            &page,
            StatusCode::FORBIDDEN,
            &code.display(),
            "Your account may not be signed in from where this device is.",
        )),
        answered => Ok(answered_page(&page, &code, approve, answered?)),
    }
}

/// Approves or denies, and shows the outcome.
async fn decided(page: &Page, code: &UserCode, approve: bool) -> PageResult {
    let viewer = page.viewer()?;
    let answered = device::decide(&page.state, &page.client, &viewer.who, code, approve).await?;
    Ok(answered_page(page, code, approve, answered))
}

fn answered_page(
    page: &Page,
    code: &UserCode,
    approve: bool,
    answered: Result<(), NotShown>,
) -> Response {
    match answered {
        Ok(()) => page.render("device_done.html", context! { approved => approve }),
        Err(why) => entry_error(
            page,
            StatusCode::UNPROCESSABLE_ENTITY,
            &code.display(),
            not_shown_text(why),
        ),
    }
}

/// The approval a step-up was asked for, with the code it kept.
pub async fn approve_after_step_up(page: &Page) -> PageResult {
    let code = page
        .cookie(DEVICE_CODE)
        .as_deref()
        .and_then(UserCode::parse)
        .ok_or(PageError::Redirect("/device".into()))?;
    let done = decided(page, &code, true).await?;
    Ok(with_cookies(
        done,
        vec![clear_cookie(&page.state, DEVICE_CODE)],
    ))
}
