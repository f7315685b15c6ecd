//! The account security page: methods with their last use, the primary, removal and new
//! recovery codes (through the step-up dialog), trusted devices, sessions, recent security
//! events; changing the password, email and phone; deleting the account.

use super::cookies::{clear_cookie, with_cookies, SESSION};
use super::form::{given, NoFields, PageForm};
use super::page_error::{message, PageError, PageResult};
use super::see_other;
use super::step_up::{self, guarded_form, Op};
use super::web::{Page, SignedIn};
use crate::routes::views::MethodDetails;
use crate::state::AppState;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use deadbolt_core::ids::{DeviceId, MethodId, SessionId};
use deadbolt_core::secret::Secret;
use deadbolt_usecases::contact::{self, Contact};
use deadbolt_usecases::{devices, mfa, security, sessions};
use deadbolt_usecases::{DomainError, DomainResult};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::future::Future;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(overview))
        .route("/account/mfa/primary", post(set_primary))
        .route("/account/mfa/remove", post(remove_form))
        .route("/account/mfa/recovery-codes", post(regenerate_form))
        .route("/account/mfa/disable", post(disable_form))
        .route("/account/devices/revoke", post(revoke_device))
        .route("/account/sessions/revoke", post(revoke_session))
        .route(
            "/account/password",
            get(password_page).post(change_password),
        )
        .route("/account/email", get(email_page).post(email_start))
        .route("/account/phone", get(phone_page).post(phone_start))
        .route("/account/contact/verify", post(contact_verify))
        .route("/account/delete", get(delete_page).post(delete))
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    Some(match notice? {
        "primary" => "Your primary method was changed.",
        "removed" => "The method was removed.",
        "mfa-on" => "Two-step sign-in is on.",
        "added" => "The method was added.",
        "codes" => "Your new recovery codes are in place. The old ones no longer work.",
        "mfa-off" => "Two-step sign-in is off.",
        "device-revoked" => "That device is no longer trusted.",
        "session-revoked" => "That session was signed out.",
        "app-revoked" => "That application no longer has access, and will ask again.",
        "password" => {
            "Your password was changed. Your other sessions and trusted devices were signed out."
        }
        "email" => "Your email address was changed.",
        "phone" => "Your phone number was changed.",
        _ => return None,
    })
}

/// A time for people: `2026-11-23 18:04 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[derive(Serialize)]
struct MethodRow {
    #[serde(flatten)]
    m: MethodDetails,
    last_used: Option<String>,
    added: String,
}

#[derive(Serialize)]
struct Row {
    id: String,
    what: String,
    ip: Option<String>,
    at: String,
    last: Option<String>,
    current: bool,
    datetime: String,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// A program's own name for itself, as a person reads it: at most 90 characters, marked when
/// cut.
pub(super) fn ua_words(ua: &str) -> String {
    let ua = ua.trim();
    if ua.is_empty() {
        return "Unknown browser".into();
    }
    let mut shown: String = ua.chars().take(90).collect();
    if shown.len() < ua.len() {
        shown.push('…');
    }
    shown
}

async fn overview(SignedIn(page): SignedIn, Query(q): Query<NoticeQuery>) -> PageResult {
    let state = &page.state;
    let viewer = page.viewer()?;
    let o = mfa::overview(state, viewer.account.id).await?;
    let methods: Vec<MethodRow> = o
        .methods
        .iter()
        .map(|m| MethodRow {
            m: MethodDetails::from(m),
            last_used: m.last_used_at.map(when),
            added: when(m.created_at),
        })
        .collect();
    let now = state.clock.now();
    let devices: Vec<Row> = devices::list(state, &viewer.who)
        .await?
        .iter()
        .filter(|d| d.revoked_at.is_none() && d.expires_at > now)
        .map(|d| Row {
            id: d.id.to_string(),
            what: ua_words(&d.user_agent),
            ip: d.ip.clone(),
            at: when(d.created_at),
            last: d.last_used_at.map(when),
            current: false,
            datetime: d.created_at.format(&Rfc3339).unwrap_or_default(),
        })
        .collect();
    let sessions: Vec<Row> = sessions::list(state, &viewer.who)
        .await?
        .iter()
        .map(|s| Row {
            id: s.id.to_string(),
            what: ua_words(s.user_agent.as_deref().unwrap_or_default()),
            ip: s.ip.clone(),
            at: when(s.created_at),
            last: Some(when(s.last_active_at)),
            current: s.id == viewer.who.session.id,
            datetime: s.created_at.format(&Rfc3339).unwrap_or_default(),
        })
        .collect();
    let events: Vec<Row> = deadbolt_usecases::events::of_caller(state, &viewer.who, None, 12)
        .await?
        .iter()
        .map(|e| Row {
            id: e.id.to_string(),
            what: e.kind.as_str().replace('_', " "),
            ip: e.ip.clone(),
            at: when(e.at),
            last: None,
            current: false,
            datetime: e.at.format(&Rfc3339).unwrap_or_default(),
        })
        .collect();
    let apps: Vec<Row> = deadbolt_usecases::oidc::consent::list(state, &viewer.who)
        .await?
        .into_iter()
        .map(|a| Row {
            id: a.consent.client_id,
            what: a.client_name,
            ip: None,
            at: when(a.consent.granted_at),
            last: None,
            current: false,
            datetime: a.consent.granted_at.format(&Rfc3339).unwrap_or_default(),
        })
        .collect();
    let a = &viewer.account;
    Ok(page.render(
        "account.html",
        context! {
            notice => notice_text(q.notice.as_deref()),
            mfa_enabled => o.enabled,
            methods => methods,
            recovery_remaining => o.recovery_codes_remaining,
            devices => devices,
            sessions => sessions,
            apps => apps,
            events => events,
            email => a.email.as_str(),
            email_verified => a.email_verified,
            phone => a.phone.as_ref().map(|p| p.as_str().to_owned()),
            phone_verified => a.phone_verified,
        },
    ))
}

#[derive(Deserialize)]
struct MethodForm {
    method_id: Option<String>,
}

fn method_of(form: &MethodForm) -> Result<MethodId, PageError> {
    given(&form.method_id)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(MethodId)
        .ok_or(PageError::BadForm)
}

async fn set_primary(SignedIn(page): SignedIn, PageForm(form): PageForm<MethodForm>) -> PageResult {
    let id = method_of(&form)?;
    let viewer = page.viewer()?;
    mfa::set_primary(&page.state, &page.client, &viewer.who, id).await?;
    Ok(see_other("/account?notice=primary"))
}

/// Runs a guarded call; a step-up it asks for opens the dialog for `op`, or, under a grant
/// opened meanwhile, runs `again` (the op once more).
async fn guarded<F>(
    page: &Page,
    op: Op,
    outcome: DomainResult<()>,
    done: &str,
    again: impl FnOnce() -> F,
) -> PageResult
where
    F: Future<Output = PageResult>,
{
    match outcome {
        Ok(()) => Ok(see_other(done)),
        Err(DomainError::StepUpRequired { .. }) => step_up::start(page, op, again).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn remove_method(page: &Page, id: MethodId) -> PageResult {
    let viewer = page.viewer()?;
    let r = mfa::remove(&page.state, &page.client, &viewer.who, id).await;
    guarded(
        page,
        Op::RemoveMethod(id),
        r,
        "/account?notice=removed",
        || remove_method(page, id),
    )
    .await
}

async fn remove_form(SignedIn(page): SignedIn, PageForm(form): PageForm<MethodForm>) -> PageResult {
    let id = method_of(&form)?;
    remove_method(&page, id).await
}

pub async fn regenerate(page: &Page) -> PageResult {
    let viewer = page.viewer()?;
    match mfa::regenerate_recovery_codes(&page.state, &page.client, &viewer.who).await {
        Ok(codes) => Ok(super::enroll::show_codes(page, &codes, false)),
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start(page, Op::RegenerateCodes, || regenerate(page)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn regenerate_form(SignedIn(page): SignedIn, PageForm(_): PageForm<NoFields>) -> PageResult {
    regenerate(&page).await
}

pub async fn disable(page: &Page) -> PageResult {
    let viewer = page.viewer()?;
    let r = mfa::disable(&page.state, &page.client, &viewer.who).await;
    guarded(page, Op::DisableMfa, r, "/account?notice=mfa-off", || {
        disable(page)
    })
    .await
}

async fn disable_form(SignedIn(page): SignedIn, PageForm(_): PageForm<NoFields>) -> PageResult {
    disable(&page).await
}

#[derive(Deserialize)]
struct IdForm {
    id: Option<String>,
}

fn uuid_of(form: &IdForm) -> Result<uuid::Uuid, PageError> {
    given(&form.id)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .ok_or(PageError::BadForm)
}

async fn revoke_device(SignedIn(page): SignedIn, PageForm(form): PageForm<IdForm>) -> PageResult {
    let id = DeviceId(uuid_of(&form)?);
    let viewer = page.viewer()?;
    devices::revoke(&page.state, &page.client, &viewer.who, id).await?;
    Ok(see_other("/account?notice=device-revoked"))
}

async fn revoke_session(SignedIn(page): SignedIn, PageForm(form): PageForm<IdForm>) -> PageResult {
    let id = SessionId(uuid_of(&form)?);
    let viewer = page.viewer()?;
    sessions::revoke(&page.state, &page.client, &viewer.who, id).await?;
    if id == viewer.who.session.id {
        return Ok(with_cookies(
            see_other("/sign-in?notice=signed-out"),
            vec![clear_cookie(&page.state, SESSION)],
        ));
    }
    Ok(see_other("/account?notice=session-revoked"))
}

async fn password_page(SignedIn(page): SignedIn) -> PageResult {
    guarded_form(&page, Op::ChangePassword, "password.html", context! {}).await
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: Option<String>,
    new_password: Option<String>,
    revoke_api_keys: Option<String>,
}

async fn change_password(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<PasswordForm>,
) -> PageResult {
    let again = |field: &str, msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "password.html",
            field,
            msg,
            context! {},
        )
    };
    let Some(current) = form.current_password.filter(|s| !s.is_empty()) else {
        return Ok(again("current_password", "Enter your current password."));
    };
    let Some(new) = form.new_password.filter(|s| !s.is_empty()) else {
        return Ok(again("new_password", "Choose a new password."));
    };
    let viewer = page.viewer()?;
    match security::change_password(
        &page.state,
        &page.client,
        &viewer.who,
        Secret::new(current),
        Secret::new(new),
        form.revoke_api_keys.as_deref() == Some("on"),
    )
    .await
    {
        Ok(()) => {
            let mut page = page;
            let cookies = page.renew_session().await?;
            Ok(with_cookies(see_other("/account?notice=password"), cookies))
        }
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start_for_form(&page, Op::ChangePassword).await
        }
        Err(e @ DomainError::InvalidCredentials) => Ok(again("current_password", &message(&e))),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again("new_password", &message(&e))),
    }
}

fn contact_words(c: Contact) -> (&'static str, &'static str, Op) {
    match c {
        Contact::Email => ("email", "Email address", Op::ChangeEmail),
        Contact::Phone => ("phone", "Phone number", Op::ChangePhone),
    }
}

async fn contact_page(page: &Page, c: Contact) -> PageResult {
    let (kind, label, op) = contact_words(c);
    guarded_form(
        page,
        op,
        "contact.html",
        context! { kind => kind, label => label },
    )
    .await
}

async fn email_page(SignedIn(page): SignedIn) -> PageResult {
    contact_page(&page, Contact::Email).await
}

async fn phone_page(SignedIn(page): SignedIn) -> PageResult {
    contact_page(&page, Contact::Phone).await
}

#[derive(Deserialize)]
struct ContactForm {
    value: Option<String>,
}

async fn contact_start(page: &Page, c: Contact, form: ContactForm) -> PageResult {
    let (kind, label, op) = contact_words(c);
    let value = given(&form.value).unwrap_or_default().to_owned();
    let viewer = page.viewer()?;
    match contact::start(&page.state, &page.client, &viewer.who, c, &value).await {
        Ok(sent) => Ok(page.render(
            "contact_code.html",
            context! { kind => kind, label => label, sent_to => sent.sent_to, resend_after => sent.resend_after },
        )),
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start_for_form(page, op).await
        }
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "contact.html",
            "value",
            &message(&e),
            context! { kind => kind, label => label, value => value },
        )),
    }
}

async fn email_start(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<ContactForm>,
) -> PageResult {
    contact_start(&page, Contact::Email, form).await
}

async fn phone_start(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<ContactForm>,
) -> PageResult {
    contact_start(&page, Contact::Phone, form).await
}

#[derive(Deserialize)]
struct ContactCodeForm {
    kind: Option<String>,
    code: Option<String>,
}

async fn contact_verify(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<ContactCodeForm>,
) -> PageResult {
    let c = match given(&form.kind) {
        Some("email") => Contact::Email,
        Some("phone") => Contact::Phone,
        _ => return Err(PageError::BadForm),
    };
    let (kind, label, _) = contact_words(c);
    let again = |msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "contact_code.html",
            "code",
            msg,
            context! { kind => kind, label => label },
        )
    };
    let Some(code) = given(&form.code) else {
        return Ok(again("Enter the code."));
    };
    let viewer = page.viewer()?;
    match contact::confirm(
        &page.state,
        &page.client,
        &viewer.who,
        c,
        &Secret::new(code.to_owned()),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/account?notice={kind}"))),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(&message(&e))),
    }
}

async fn delete_page(SignedIn(page): SignedIn) -> PageResult {
    guarded_form(&page, Op::DeleteAccount, "delete.html", context! {}).await
}

#[derive(Deserialize)]
struct DeleteForm {
    confirm: Option<String>,
}

async fn delete(SignedIn(page): SignedIn, PageForm(form): PageForm<DeleteForm>) -> PageResult {
    if form.confirm.is_none() {
        return Ok(page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "delete.html",
            "confirm",
            "Tick the box to confirm that you want to delete the account.",
            context! {},
        ));
    }
    let viewer = page.viewer()?;
    match security::delete_account(&page.state, &page.client, &viewer.who).await {
        Ok(()) => Ok(with_cookies(
            see_other("/sign-in?notice=deleted"),
            vec![clear_cookie(&page.state, SESSION)],
        )),
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start_for_form(&page, Op::DeleteAccount).await
        }
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "delete.html",
            "confirm",
            &message(&e),
            context! {},
        )),
    }
}
