//! The step-up dialog: before a guarded action the use cases answer `StepUpRequired`; the page
//! then asks for a fresh second factor (or the password, for an account without MFA) through
//! the same step-up use case as `/v1/step-up`; [`super::resume`] carries on with what the person
//! was doing. The challenge token lives in an HttpOnly cookie; what to do afterwards (an
//! [`Op`]: never a secret) travels in the dialog's form.

use super::cookies::{clear_cookie, set_cookie, with_cookies, PENDING_SECONDS, STEP_UP};
use super::form::{given, PageForm};
use super::page_error::{message, PageError, PageResult};
use super::see_other;
use super::web::{Page, SignedIn};
use crate::routes::views::MethodDetails;
use crate::state::AppState;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use deadbolt_core::ids::{AccountId, MethodId};
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_store::MethodRecord;
use deadbolt_usecases::challenge::{self, Answering};
use deadbolt_usecases::stepup::{self, Begin, StepUpFactor};
use deadbolt_usecases::DomainError;
use minijinja::{context, Value};
use serde::Deserialize;
use std::future::Future;

/// The dialog's own routes; starting from a form and verifying, which go on with the [`Op`],
/// are [`super::resume`]'s.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/step-up", get(dialog))
        .route("/step-up/send", post(send))
}

/// What the person was doing when a step-up was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    RemoveMethod(MethodId),
    RegenerateCodes,
    DisableMfa,
    EnrollTotp,
    EnrollEmail,
    EnrollPhone,
    EnrollWebauthn,
    EnrollPush,
    ChangePassword,
    DeleteAccount,
    ChangeEmail,
    ChangePhone,
    EditPolicy,
    AdminMfaReset(AccountId),
    /// Signing in to an OpenID Connect application that asks for more than the session shows.
    Authorize,
    /// Approving a device's sign-in (its code waits in a cookie).
    ApproveDevice,
}

impl Op {
    pub fn encode(self) -> String {
        match self {
            Self::RemoveMethod(id) => format!("remove-method:{id}"),
            Self::RegenerateCodes => "regenerate-codes".into(),
            Self::DisableMfa => "disable-mfa".into(),
            Self::EnrollTotp => "enroll-totp".into(),
            Self::EnrollEmail => "enroll-email".into(),
            Self::EnrollPhone => "enroll-phone".into(),
            Self::EnrollWebauthn => "enroll-webauthn".into(),
            Self::EnrollPush => "enroll-push".into(),
            Self::ChangePassword => "password".into(),
            Self::DeleteAccount => "delete".into(),
            Self::ChangeEmail => "email".into(),
            Self::ChangePhone => "phone".into(),
            Self::EditPolicy => "policy".into(),
            Self::AdminMfaReset(id) => format!("admin-mfa-reset:{id}"),
            Self::Authorize => "authorize".into(),
            Self::ApproveDevice => "approve-device".into(),
        }
    }

    /// The one thing the operation's step-up is for, where its action names one.
    pub fn target(self) -> Option<String> {
        match self {
            Self::AdminMfaReset(id) => Some(id.to_string()),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let uuid = |v: &str| uuid::Uuid::parse_str(v).ok();
        Some(match s.split_once(':') {
            Some(("remove-method", id)) => Self::RemoveMethod(MethodId(uuid(id)?)),
            Some(("admin-mfa-reset", id)) => Self::AdminMfaReset(AccountId(uuid(id)?)),
            Some(_) => return None,
            None => match s {
                "regenerate-codes" => Self::RegenerateCodes,
                "disable-mfa" => Self::DisableMfa,
                "enroll-totp" => Self::EnrollTotp,
                "enroll-email" => Self::EnrollEmail,
                "enroll-phone" => Self::EnrollPhone,
                "enroll-webauthn" => Self::EnrollWebauthn,
                "enroll-push" => Self::EnrollPush,
                "password" => Self::ChangePassword,
                "delete" => Self::DeleteAccount,
                "email" => Self::ChangeEmail,
                "phone" => Self::ChangePhone,
                "policy" => Self::EditPolicy,
                "authorize" => Self::Authorize,
                "approve-device" => Self::ApproveDevice,
                _ => return None,
            },
        })
    }

    pub fn action(self) -> &'static str {
        match self {
            Self::RemoveMethod(_)
            | Self::RegenerateCodes
            | Self::DisableMfa
            | Self::EnrollTotp
            | Self::EnrollEmail
            | Self::EnrollPhone
            | Self::EnrollWebauthn
            | Self::EnrollPush => Action::MFA_MANAGE,
            Self::ChangePassword => Action::PASSWORD_CHANGE,
            Self::DeleteAccount => Action::ACCOUNT_DELETE,
            Self::ChangeEmail => Action::EMAIL_CHANGE,
            Self::ChangePhone => Action::PHONE_CHANGE,
            Self::EditPolicy => Action::POLICY_CHANGE,
            Self::AdminMfaReset(_) => Action::ADMIN_MFA_RESET,
            Self::Authorize => Action::OIDC_AUTHORIZE,
            Self::ApproveDevice => Action::DEVICE_APPROVE,
        }
    }

    /// What the dialog says is being confirmed.
    fn describe(self) -> &'static str {
        match self {
            Self::RemoveMethod(_) => "remove a sign-in method",
            Self::RegenerateCodes => "make new recovery codes",
            Self::DisableMfa => "turn off two-step sign-in",
            Self::EnrollTotp
            | Self::EnrollEmail
            | Self::EnrollPhone
            | Self::EnrollWebauthn
            | Self::EnrollPush => "add a sign-in method",
            Self::ChangePassword => "change your password",
            Self::DeleteAccount => "delete your account",
            Self::ChangeEmail => "change your email address",
            Self::ChangePhone => "change your phone number",
            Self::EditPolicy => "change the security policy",
            Self::AdminMfaReset(_) => "reset another account's two-step sign-in",
            Self::Authorize => "sign in to an application that asks for a fresh check",
            Self::ApproveDevice => "sign in a device to your account",
        }
    }

    /// Where to go back to when the person cancels.
    fn back(self) -> &'static str {
        match self {
            Self::EditPolicy | Self::AdminMfaReset(_) => "/admin",
            // the application hears that the person gave up
            Self::Authorize => "/oauth2/continue?cancel=1",
            Self::ApproveDevice => "/device",
            _ => "/account",
        }
    }

    /// For an op that is a form to fill in, the form: once the grant is open, the person goes
    /// back to it.
    pub fn form(self) -> Option<&'static str> {
        Some(match self {
            Self::EnrollPhone => "/account/mfa/new?notice=confirmed",
            Self::ChangePassword => "/account/password",
            Self::DeleteAccount => "/account/delete",
            Self::ChangeEmail => "/account/email",
            Self::ChangePhone => "/account/phone",
            Self::EditPolicy => "/admin/policy",
            Self::Authorize => "/oauth2/continue",
            Self::RemoveMethod(_)
            | Self::RegenerateCodes
            | Self::DisableMfa
            | Self::EnrollTotp
            | Self::EnrollEmail
            | Self::EnrollWebauthn
            | Self::EnrollPush
            | Self::AdminMfaReset(_)
            | Self::ApproveDevice => return None,
        })
    }
}

/// What ties a step-up cookie to its operation: a keyed hash of it (cookie values are limited
/// to token characters).
fn op_tag(page: &Page, op: Op) -> String {
    page.state
        .keys
        .hasher()
        .hash(&[b"page-step-up-op", op.encode().as_bytes()])
        .to_hex()
}

/// Begins a step-up for `op`: the dialog, unless a grant for it is open already (asked for
/// again, or opened in another tab since a use case refused); then `carry_on`, which does `op`.
/// The caller hands that in: the pages that do ops depend on this module, not it on them.
pub async fn start<F>(page: &Page, op: Op, carry_on: impl FnOnce() -> F) -> PageResult
where
    F: Future<Output = PageResult>,
{
    let viewer = page.viewer()?;
    let action = Action::parse(op.action()).map_err(|_| PageError::BadForm)?;
    match stepup::begin(&page.state, &viewer.who, action, op.target()).await? {
        // boxed: `carry_on` is mostly the caller's own function, which awaits this one
        Begin::Satisfied { .. } => Box::pin(carry_on()).await,
        Begin::Challenge {
            challenge_token, ..
        } => Ok(with_cookies(
            see_other(&format!("/step-up?op={}", op.encode())),
            // the operation rides with the challenge, so that the dialog carries on with the
            // one this step-up was begun for, whatever `op` a link puts in the address
            vec![set_cookie(
                &page.state,
                STEP_UP,
                &format!("{}.{}", challenge_token.expose(), op_tag(page, op)),
                Some(PENDING_SECONDS),
            )],
        )),
    }
}

/// Begins a step-up for an op that is a form: once granted, back to the form.
pub async fn start_for_form(page: &Page, op: Op) -> PageResult {
    let form = op.form().unwrap_or(op.back());
    start(page, op, || async move { Ok(see_other(form)) }).await
}

/// Whether the viewer's session holds an open grant for `op` (the form pages ask first, so
/// nobody types a new password twice).
pub async fn granted(page: &Page, op: Op) -> Result<bool, PageError> {
    let viewer = page.viewer()?;
    let target = op.target();
    Ok(stepup::has_open_grant(&page.state, &viewer.who, op.action(), target.as_deref()).await?)
}

#[derive(Deserialize)]
struct DialogQuery {
    op: Option<String>,
    method: Option<String>,
}

/// The dialog's state: the challenge and the methods on offer.
struct Pending {
    token: Secret,
    challenge: challenge::Pending,
    methods: Vec<MethodRecord>,
    password: bool,
}

async fn pending(page: &Page, op: Op) -> Result<Pending, PageError> {
    let viewer = page.viewer()?;
    let stored = page
        .cookie(STEP_UP)
        .ok_or(PageError::Redirect(op.back().into()))?;
    let token = match stored.split_once('.') {
        Some((token, begun_for)) if begun_for == op_tag(page, op) => Secret::new(token),
        _ => return Err(PageError::Redirect(op.back().into())),
    };
    let answering = Answering::StepUp(viewer.who.session.id);
    let challenge = match challenge::pending(&page.state, &token, answering).await {
        Ok(c) => c,
        Err(DomainError::MfaTokenInvalid) => return Err(PageError::Redirect(op.back().into())),
        Err(e) => return Err(e.into()),
    };
    if challenge.record().action.as_deref() != Some(op.action()) {
        return Err(PageError::Redirect(op.back().into()));
    }
    let action = Action::parse(op.action()).map_err(|_| PageError::BadForm)?;
    let (methods, password) =
        stepup::offered(&page.state, &viewer.account, &action, viewer.who.session.id).await?;
    Ok(Pending {
        token,
        challenge,
        methods,
        password,
    })
}

fn pick(methods: &[MethodRecord], asked: Option<&str>) -> Option<usize> {
    let asked = asked.and_then(|s| uuid::Uuid::parse_str(s).ok());
    match asked.and_then(|u| methods.iter().position(|m| m.id.0 == u)) {
        Some(i) => Some(i),
        None if methods.is_empty() => None,
        None => Some(0),
    }
}

fn dialog_ctx(page: &Page, op: Op, p: &Pending, current: Option<usize>, extra: Value) -> Value {
    let method = current.map(|i| MethodDetails::from(&p.methods[i]));
    let others: Vec<MethodDetails> = p
        .methods
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != current)
        .map(|(_, m)| MethodDetails::from(m))
        .collect();
    page.ctx(context! {
        op => op.encode(),
        what => op.describe(),
        back => op.back(),
        password => p.password,
        method => method,
        others => others,
        send_action => "/step-up/send",
        ..extra
    })
}

async fn dialog(SignedIn(page): SignedIn, Query(q): Query<DialogQuery>) -> PageResult {
    let op = given(&q.op).and_then(Op::parse).ok_or(PageError::BadForm)?;
    let p = match pending(&page, op).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let current = pick(&p.methods, q.method.as_deref());
    let ctx = dialog_ctx(&page, op, &p, current, context! {});
    Ok(super::render(StatusCode::OK, "step_up.html", ctx))
}

#[derive(Deserialize)]
struct SendForm {
    op: Option<String>,
    method_id: Option<String>,
}

async fn send(SignedIn(page): SignedIn, PageForm(form): PageForm<SendForm>) -> PageResult {
    let op = given(&form.op)
        .and_then(Op::parse)
        .ok_or(PageError::BadForm)?;
    let p = match pending(&page, op).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let current = pick(&p.methods, given(&form.method_id)).ok_or(PageError::BadForm)?;
    let extra = match challenge::send(
        &page.state,
        &page.client,
        &p.challenge,
        p.methods[current].id,
    )
    .await
    {
        Ok(sent) => super::sign_in::challenged(sent),
        Err(e @ DomainError::Internal(_)) => return Err(e.into()),
        Err(e) => context! {
            error => context! { field => "code", message => message(&e) },
            resend_after => match &e { DomainError::ResendTooSoon { retry_after } => Some(*retry_after), _ => None },
        },
    };
    let ctx = dialog_ctx(&page, op, &p, Some(current), extra);
    Ok(super::render(StatusCode::OK, "step_up.html", ctx))
}

#[derive(Deserialize)]
pub struct VerifyForm {
    op: Option<String>,
    method_id: Option<String>,
    code: Option<String>,
    credential: Option<String>,
    password: Option<String>,
    /// The number a push request showed, shown again while it waits.
    push_number: Option<String>,
}

/// What the dialog's answer came to.
pub enum Answered {
    /// The grant for the op is open: on with it.
    Granted(Op),
    /// The page to show instead: the dialog again, or back where the person came from.
    Shown(Response),
}

/// Checks the dialog's answer: a code, a security key's assertion or the password.
pub async fn verify(page: &Page, form: VerifyForm) -> Result<Answered, PageError> {
    let op = given(&form.op)
        .and_then(Op::parse)
        .ok_or(PageError::BadForm)?;
    let p = match pending(page, op).await {
        Ok(p) => p,
        Err(e) => return Ok(Answered::Shown(page.error_page(e))),
    };
    let current = pick(&p.methods, given(&form.method_id));
    let field = if p.password { "password" } else { "code" };
    let again = |msg: String| {
        let error = context! { field => field, message => msg };
        let ctx = dialog_ctx(page, op, &p, current, context! { error => error });
        Answered::Shown(super::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "step_up.html",
            ctx,
        ))
    };
    let answer = if p.password {
        match form.password.filter(|s| !s.is_empty()) {
            Some(pw) => StepUpFactor::Password(Secret::new(pw)),
            None => return Ok(again("Enter your password.".into())),
        }
    } else {
        let Some(i) = current else {
            return Ok(again("No method can confirm this action.".into()));
        };
        match super::sign_in::factor_from(&p.methods[i], given(&form.code), given(&form.credential))
        {
            Ok(f) => StepUpFactor::Factor(f),
            Err(msg) => return Ok(again(msg.into())),
        }
    };
    let viewer = page.viewer()?;
    match stepup::verify(
        &page.state,
        &page.client,
        &viewer.who,
        p.token.clone(),
        answer,
    )
    .await
    {
        Ok(_) => Ok(Answered::Granted(op)),
        Err(DomainError::MfaTokenInvalid) => Ok(Answered::Shown(with_cookies(
            see_other(op.back()),
            vec![clear_cookie(&page.state, STEP_UP)],
        ))),
        Err(DomainError::AuthorizationPending) => {
            let waiting = super::sign_in::waiting(&form.push_number, &form.code);
            let ctx = dialog_ctx(page, op, &p, current, waiting);
            Ok(Answered::Shown(super::render(
                StatusCode::OK,
                "step_up.html",
                ctx,
            )))
        }
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(message(&e))),
    }
}

/// A page for an op behind step-up: its form when the grant is open, else a button that opens
/// the dialog.
pub async fn guarded_form(page: &Page, op: Op, template: &str, own: Value) -> PageResult {
    if granted(page, op).await? {
        Ok(page.render(template, own))
    } else {
        Ok(page.render(
            template,
            context! { needs_step_up => true, op => op.encode(), ..own },
        ))
    }
}
