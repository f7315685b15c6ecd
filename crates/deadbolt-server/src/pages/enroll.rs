//! The enrolment wizard: choose a factor; TOTP with its QR code and the key to type by hand,
//! or a code sent by email, SMS or voice; confirm with a code; then, when this turned MFA on,
//! the recovery codes, shown once.

use super::form::{given, NoFields, PageForm};
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
use deadbolt_core::ids::MethodId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::mfa;
use deadbolt_usecases::DomainError;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/mfa/new", get(choose))
        .route("/account/mfa/totp", post(totp_form))
        .route("/account/mfa/email", post(email_form))
        .route("/account/mfa/phone", post(phone_form))
        .route("/account/mfa/webauthn", post(webauthn_form))
        .route("/account/mfa/push", post(push_form))
        .route("/account/mfa/confirm", post(confirm))
        .route("/account/mfa/resend", post(resend))
}

#[derive(Serialize)]
struct Choice {
    kind: &'static str,
    title: &'static str,
    text: &'static str,
    available: bool,
    why_not: Option<String>,
}

#[derive(Deserialize)]
struct ChooseQuery {
    notice: Option<String>,
}

async fn choose(SignedIn(page): SignedIn, Query(q): Query<ChooseQuery>) -> PageResult {
    let state = &page.state;
    let viewer = page.viewer()?;
    // nothing can be added before the address is proven (the use cases refuse it too)
    let unverified =
        (!viewer.account.may_add_factors()).then(|| "Verify your email address first.".to_owned());
    let allowed = |kind: MethodKind| {
        deadbolt_usecases::factor_policy::ensure_allowed(state, kind)
            .err()
            .map(|e| message(&e))
            .or_else(|| unverified.clone())
    };
    // codes by email go only to a proven address (a subject's product may not have proven one)
    let email_why = allowed(MethodKind::Email).or_else(|| {
        (!viewer.account.email_verified)
            .then(|| "This needs an email address that has been verified.".to_owned())
    });
    let choices = vec![
        Choice {
            kind: "totp",
            title: "Authenticator app",
            text: "An app such as Google Authenticator, 1Password, Aegis or Authy shows a new 6-digit code every 30 seconds. Recommended.",
            available: allowed(MethodKind::Totp).is_none(),
            why_not: allowed(MethodKind::Totp),
        },
        Choice {
            kind: "webauthn",
            title: "Security key or passkey",
            text: "A USB or NFC key, or a passkey kept by your phone or computer. A passkey also lets you sign in without your password.",
            available: allowed(MethodKind::WebAuthn).is_none(),
            why_not: allowed(MethodKind::WebAuthn),
        },
        Choice {
            kind: "email",
            title: "Code by email",
            text: "We email you a code each time you sign in.",
            available: email_why.is_none(),
            why_not: email_why,
        },
        Choice {
            kind: "sms",
            title: "Code by text message",
            text: "We text a code to your phone. Weaker: phone numbers can be taken over.",
            available: allowed(MethodKind::Sms).is_none(),
            why_not: allowed(MethodKind::Sms),
        },
        Choice {
            kind: "voice",
            title: "Code by phone call",
            text: "A call reads a code to you. Weaker: phone numbers can be taken over.",
            available: allowed(MethodKind::Voice).is_none(),
            why_not: allowed(MethodKind::Voice),
        },
    ];
    // offered only where policy allows it (most services do not)
    let mut choices = choices;
    if allowed(MethodKind::Push).is_none() {
        choices.push(Choice {
            kind: "push",
            title: "Approve on this browser",
            text: "When you sign in elsewhere, this browser asks you to approve, and you pick the number the other screen shows. Stay signed in here: signing out of this browser ends it.",
            available: true,
            why_not: None,
        });
    }
    let notice = (q.notice.as_deref() == Some("confirmed"))
        .then_some("Confirmed. Now choose the method to add.");
    Ok(page.render(
        "enroll_choose.html",
        context! {
            choices => choices,
            notice => notice,
            phone => viewer.account.phone.as_ref().map(|p| p.as_str().to_owned()),
        },
    ))
}

/// Starts a TOTP enrolment and shows its QR code and key.
pub async fn start_totp(page: &Page) -> PageResult {
    let viewer = page.viewer()?;
    match mfa::enroll_totp(&page.state, &page.client, &viewer.who, None).await {
        Ok(e) => {
            // the SVG from the QR renderer, without its XML prolog, inline (no style attributes)
            let svg = e
                .qr_svg
                .find("<svg")
                .map_or("", |i| &e.qr_svg[i..])
                .to_owned();
            let grouped = e
                .secret
                .expose()
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            Ok(page.render(
                "enroll_totp.html",
                context! {
                    method_id => e.method_id.to_string(),
                    qr_svg => Value::from_safe_string(svg),
                    secret => grouped,
                    issuer => page.state.config.mfa.issuer.clone(),
                },
            ))
        }
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start(page, Op::EnrollTotp, || start_totp(page)).await
        }
        Err(e) => Ok(choose_error(page, &e)),
    }
}

fn choose_error(page: &Page, e: &DomainError) -> Response {
    page.form_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "error.html",
        "main",
        &message(e),
        context! { title => "This method cannot be added", text => message(e) },
    )
}

async fn totp_form(SignedIn(page): SignedIn, PageForm(_): PageForm<NoFields>) -> PageResult {
    start_totp(&page).await
}

fn code_page(page: &Page, sent: mfa::CodeEnrollment, kind: MethodKind) -> Response {
    page.render(
        "enroll_code.html",
        context! {
            method_id => sent.method_id.to_string(),
            sent_to => sent.sent_to,
            resend_after => sent.resend_after,
            restricted_notice => sent.restricted_notice,
            kind => kind.as_str(),
        },
    )
}

pub async fn start_email(page: &Page) -> PageResult {
    let viewer = page.viewer()?;
    match mfa::enroll_sent_code(
        &page.state,
        &page.client,
        &viewer.who,
        MethodKind::Email,
        None,
        None,
    )
    .await
    {
        Ok(sent) => Ok(code_page(page, sent, MethodKind::Email)),
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start(page, Op::EnrollEmail, || start_email(page)).await
        }
        Err(e) => Ok(choose_error(page, &e)),
    }
}

async fn email_form(SignedIn(page): SignedIn, PageForm(_): PageForm<NoFields>) -> PageResult {
    start_email(&page).await
}

#[derive(Deserialize)]
struct PhoneForm {
    kind: Option<String>,
    phone: Option<String>,
}

async fn phone_form(SignedIn(page): SignedIn, PageForm(form): PageForm<PhoneForm>) -> PageResult {
    let kind = match given(&form.kind) {
        Some("sms") => MethodKind::Sms,
        Some("voice") => MethodKind::Voice,
        _ => return Err(PageError::BadForm),
    };
    let viewer = page.viewer()?;
    let phone = given(&form.phone).map(str::to_owned);
    match mfa::enroll_sent_code(&page.state, &page.client, &viewer.who, kind, phone, None).await {
        Ok(sent) => Ok(code_page(&page, sent, kind)),
        // the dialog, then back to the choice (the grant waits for the next try)
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start_for_form(&page, Op::EnrollPhone).await
        }
        Err(e) => Ok(choose_error(&page, &e)),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    method_id: Option<String>,
    code: Option<String>,
    credential: Option<String>,
    kind: Option<String>,
}

async fn confirm(SignedIn(page): SignedIn, PageForm(form): PageForm<ConfirmForm>) -> PageResult {
    let id = given(&form.method_id)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(MethodId)
        .ok_or(PageError::BadForm)?;
    let template = match given(&form.kind) {
        Some("totp") => "enroll_totp.html",
        Some("webauthn") => "enroll_webauthn.html",
        _ => "enroll_code.html",
    };
    let again = |msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            template,
            "code",
            msg,
            context! { method_id => id.to_string(), kind => given(&form.kind), again => true },
        )
    };
    let proof = if template == "enroll_webauthn.html" {
        match given(&form.credential).and_then(|c| serde_json::from_str(c).ok()) {
            Some(credential) => mfa::Confirmation::Credential(credential),
            None => return Ok(again("Your browser did not answer. Start again.")),
        }
    } else {
        match given(&form.code) {
            Some(code) => mfa::Confirmation::Code(Secret::new(code.to_owned())),
            None => return Ok(again("Enter the code.")),
        }
    };
    let viewer = page.viewer()?;
    match mfa::confirm(&page.state, &page.client, &viewer.who, id, proof).await {
        Ok(done) => match done.recovery_codes {
            Some(codes) => Ok(show_codes(&page, &codes, true)),
            None => Ok(see_other("/account?notice=added")),
        },
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(&message(&e))),
    }
}

#[derive(Deserialize)]
struct ResendForm {
    method_id: Option<String>,
    kind: Option<String>,
}

async fn resend(SignedIn(page): SignedIn, PageForm(form): PageForm<ResendForm>) -> PageResult {
    let id = given(&form.method_id)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(MethodId)
        .ok_or(PageError::BadForm)?;
    let kind = given(&form.kind).unwrap_or("email").to_owned();
    let viewer = page.viewer()?;
    let extra = match mfa::resend_enrolment_code(&page.state, &page.client, &viewer.who, id).await {
        Ok(sent) => context! { sent_to => sent.sent_to, resend_after => sent.resend_after },
        Err(e @ DomainError::Internal(_)) => return Err(e.into()),
        Err(e) => context! {
            error => context! { field => "code", message => message(&e) },
            resend_after => match &e { DomainError::ResendTooSoon { retry_after } => Some(*retry_after), _ => None },
        },
    };
    Ok(page.render(
        "enroll_code.html",
        context! { method_id => id.to_string(), kind => kind, ..extra },
    ))
}

#[derive(Deserialize)]
struct WebauthnForm {
    label: Option<String>,
}

/// Starts a security key or passkey enrolment: the page's script has the browser create the
/// credential with these options and posts the registration to `/account/mfa/confirm`.
pub async fn start_webauthn(page: &Page, label: Option<String>) -> PageResult {
    let viewer = page.viewer()?;
    match mfa::enroll_webauthn(&page.state, &page.client, &viewer.who, label).await {
        Ok(e) => Ok(page.render(
            "enroll_webauthn.html",
            context! {
                method_id => e.method_id.to_string(),
                webauthn_options => e.public_key.to_string(),
            },
        )),
        // without the label, as after the dialog, whose form does not carry it
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start(page, Op::EnrollWebauthn, || start_webauthn(page, None)).await
        }
        Err(e) => Ok(choose_error(page, &e)),
    }
}

async fn webauthn_form(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<WebauthnForm>,
) -> PageResult {
    start_webauthn(&page, given(&form.label).map(str::to_owned)).await
}

/// Makes this browser's session a push approver: active at once, since this session is the
/// device that approves (see `mfa::enroll_push`).
pub async fn start_push(page: &Page) -> PageResult {
    let viewer = page.viewer()?;
    let input = mfa::PushEnrollment {
        // named for the browser it is, as the other screen reads it ("Chrome on Linux")
        label: page
            .client
            .user_agent
            .as_deref()
            .map(deadbolt_core::user_agent::describe)
            .or_else(|| Some("A browser".to_owned())),
        public_key: None,
        push_token: None,
    };
    match mfa::enroll_push(&page.state, &page.client, &viewer.who, input).await {
        Ok(done) => match done.recovery_codes {
            Some(codes) => Ok(show_codes(page, &codes, true)),
            None => Ok(see_other("/account?notice=added")),
        },
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start(page, Op::EnrollPush, || start_push(page)).await
        }
        Err(e) => Ok(choose_error(page, &e)),
    }
}

async fn push_form(SignedIn(page): SignedIn, PageForm(_): PageForm<NoFields>) -> PageResult {
    start_push(&page).await
}

/// The recovery codes, shown this once: copy, download, print, and "I have saved them".
pub fn show_codes(page: &Page, codes: &[Secret], first: bool) -> Response {
    let codes: Vec<&str> = codes.iter().map(Secret::expose).collect();
    // a client's subject goes back to its client's sign-in, which asks for the new factor; an
    // account of ours signs out and in again with it
    let enrollment_only = page
        .viewer
        .as_ref()
        .is_some_and(|v| v.who.session.enrollment_only && v.account.subject_of.is_none());
    page.render(
        "recovery_codes.html",
        context! {
            codes => codes,
            first => first,
            enrollment_only => enrollment_only,
            // an application's sign-in that asked for a second factor goes on from here
            resume_authorization => page.cookie(super::cookies::AUTHZ).is_some(),
            issuer => page.state.config.mfa.issuer.clone(),
        },
    )
}
