//! What follows a step-up: the guarded [`Op`] is carried on by the account, enrolment or admin
//! page it belongs to, once its grant is open.

use super::cookies::{clear_cookie, with_cookies, STEP_UP};
use super::form::{given, PageForm};
use super::page_error::{PageError, PageResult};
use super::step_up::{self, Answered, Op, VerifyForm};
use super::web::{Page, SignedIn};
use super::{account, admin, device, enroll, see_other};
use crate::state::AppState;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

/// The step-up routes that go on with the op: starting one from a form's button, and the
/// dialog's answer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/step-up/start", post(start_form))
        .route("/step-up/verify", post(verify))
}

/// Does `op` now that its grant is open.
async fn perform(page: &Page, op: Op) -> PageResult {
    if let Some(form) = op.form() {
        return Ok(see_other(form));
    }
    match op {
        Op::RemoveMethod(id) => account::remove_method(page, id).await,
        Op::RegenerateCodes => account::regenerate(page).await,
        Op::DisableMfa => account::disable(page).await,
        Op::EnrollTotp => enroll::start_totp(page).await,
        Op::EnrollEmail => enroll::start_email(page).await,
        Op::EnrollWebauthn => enroll::start_webauthn(page, None).await,
        Op::EnrollPush => enroll::start_push(page).await,
        Op::AdminMfaReset(id) => admin::mfa_reset(page, id).await,
        Op::ApproveDevice => device::approve_after_step_up(page).await,
        // went back to their form above
        Op::EnrollPhone
        | Op::ChangePassword
        | Op::DeleteAccount
        | Op::ChangeEmail
        | Op::ChangePhone
        | Op::EditPolicy
        | Op::Authorize => Err(PageError::BadForm),
    }
}

#[derive(Deserialize)]
struct OpForm {
    op: Option<String>,
}

async fn start_form(SignedIn(page): SignedIn, PageForm(form): PageForm<OpForm>) -> PageResult {
    let op = given(&form.op)
        .and_then(Op::parse)
        .ok_or(PageError::BadForm)?;
    step_up::start(&page, op, || perform(&page, op)).await
}

async fn verify(SignedIn(page): SignedIn, PageForm(form): PageForm<VerifyForm>) -> PageResult {
    let op = match step_up::verify(&page, form).await? {
        Answered::Granted(op) => op,
        Answered::Shown(response) => return Ok(response),
    };
    // the session is renewed before the operation, whose answer may be a form that must carry
    // a token for the new session
    let mut page = page;
    let mut cookies = page.renew_session().await?;
    cookies.push(clear_cookie(&page.state, STEP_UP));
    let done = perform(&page, op).await?;
    Ok(with_cookies(done, cookies))
}
