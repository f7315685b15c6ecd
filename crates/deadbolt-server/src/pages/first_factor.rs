//! What a checked first factor leads to in the browser (a session, or the second step), and
//! the session of this browser a new sign-in replaces.

use super::cookies::{clear_cookie, session_cookie, set_cookie, with_cookies, PENDING};
use super::see_other;
use super::web::Page;
use axum::response::Response;
use deadbolt_usecases::login::LoginOutcome;
use deadbolt_usecases::sessions;

/// A checked first factor, in the browser: signed in (on to the enrolment wizard where policy
/// asks for a factor first, else to where a sign-in goes: `resumes_request` says an
/// application's request waits), or on to the second step.
pub(super) async fn after_first_factor(
    page: &Page,
    outcome: LoginOutcome,
    resumes_request: bool,
) -> Response {
    let state = &page.state;
    match outcome {
        LoginOutcome::SignedIn(tokens) => {
            end_previous(page, resumes_request).await;
            let to = match (tokens.enrollment_required, resumes_request) {
                (false, true) => "/oauth2/continue",
                (required, _) => page.after_sign_in(required),
            };
            with_cookies(
                see_other(to),
                vec![
                    session_cookie(state, tokens.session_id),
                    clear_cookie(state, PENDING),
                ],
            )
        }
        LoginOutcome::MfaRequired {
            mfa_token,
            expires_in,
            reason,
            ..
        } => {
            let to = match reason {
                Some(why) => format!("/sign-in/verify?why={why}"),
                None => "/sign-in/verify".to_owned(),
            };
            with_cookies(
                see_other(&to),
                vec![set_cookie(
                    state,
                    PENDING,
                    mfa_token.expose(),
                    Some(expires_in),
                )],
            )
        }
    }
}

/// Signing in over a session of this browser ends that one: its cookie is about to be replaced,
/// and a session nobody holds should not stay live; what applications were given from it ends
/// with it (they ask again, silently where the new session serves). Best effort: the new
/// sign-in stands.
///
/// A client's subject signing in (`subject_signing_in`) leaves a session of an account of ours
/// live (only its cookie is replaced, its applications' tokens stay): a product's link must
/// not sign anyone out of Deadbolt.
pub(super) async fn end_previous(page: &Page, subject_signing_in: bool) {
    let Ok(viewer) = page.viewer() else {
        return;
    };
    if subject_signing_in && viewer.account.subject_of.is_none() {
        return;
    }
    if let Err(e) = sessions::logout(&page.state, &page.client, &viewer.who).await {
        tracing::warn!(error = %e, "could not end the session a new sign-in replaces");
    }
}
