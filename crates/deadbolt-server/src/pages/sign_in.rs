//! Sign-in, the second-factor challenge, sign-out, and sign-up with email verification.

use super::cookies::{
    clear_cookie, session_cookie, set_cookie, with_cookies, DEVICE, LAST_METHOD, PENDING, SESSION,
};
use super::first_factor::{after_first_factor, end_previous};
use super::form::{given, NoFields, PageForm};
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
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::secret::Secret;
use deadbolt_store::MethodRecord;
use deadbolt_usecases::challenge::{self, Answering, Challenged, Pending};
use deadbolt_usecases::factors::FactorInput;
use deadbolt_usecases::login::{self, Login};
use deadbolt_usecases::mfa_login::{self, MfaVerify};
use deadbolt_usecases::DomainError;
use deadbolt_usecases::{accounts, sessions};
use minijinja::{context, Value};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-in/verify", get(challenge_page).post(verify))
        .route("/sign-in/send", post(send_code))
        .route("/sign-in/passkey", post(passkey))
        .route("/sign-out", post(sign_out))
        .route("/sign-up", get(sign_up_page).post(sign_up))
        .route("/sign-up/verify", post(verify_email))
        .route("/sign-up/resend", post(resend_email))
}

async fn home(page: Page) -> Response {
    see_other(if page.viewer.is_some() {
        "/account"
    } else {
        "/sign-in"
    })
}

/// Fixed words for the notices other pages send people here with (never text from the URL).
fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    Some(match notice? {
        "verified" => "Your email is verified. Sign in to continue.",
        "signed-out" => "You are signed out.",
        "expired" => "That sign-in took too long or had too many wrong codes. Please sign in again.",
        "reset" => "Your password was changed and every session was signed out. Sign in with the new password.",
        "deleted" => "Your account was deleted.",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
    /// An application asked for a new sign-in (`prompt=login`): the form even when signed in.
    again: Option<String>,
}

async fn sign_in_page(page: Page, Query(q): Query<NoticeQuery>) -> Response {
    let again = q.again.is_some() && page.cookie(super::cookies::AUTHZ).is_some();
    if page.viewer.is_some() && !again {
        return see_other("/account");
    }
    page.render(
        "sign_in.html",
        context! {
            notice => notice_text(q.notice.as_deref()),
            email => login_hint(&page).await,
        },
    )
}

/// The email an application's waiting sign-in suggests (`login_hint`), to fill in.
async fn login_hint(page: &Page) -> Option<String> {
    let id = page.cookie(super::cookies::AUTHZ)?;
    let request = deadbolt_usecases::oidc::authorize::waiting(&page.state, &id)
        .await
        .ok()??;
    request
        .login_hint
        .filter(|hint| deadbolt_core::email::Email::parse(hint).is_ok())
}

#[derive(Deserialize)]
struct SignInForm {
    email: Option<String>,
    password: Option<String>,
}

async fn sign_in(page: Page, PageForm(form): PageForm<SignInForm>) -> PageResult {
    let state = &page.state;
    let email = given(&form.email).unwrap_or_default().to_owned();
    let again = |field: &str, msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sign_in.html",
            field,
            msg,
            context! { email => email },
        )
    };
    if email.is_empty() {
        return Ok(again("email", "Enter your email address."));
    }
    let Some(password) = form.password.filter(|p| !p.is_empty()) else {
        return Ok(again("password", "Enter your password."));
    };
    let input = Login {
        email: email.clone(),
        password: Secret::new(password),
        device_token: page.cookie(DEVICE).map(Secret::new),
    };
    match login::login(state, &page.client, input).await {
        Ok(outcome) => Ok(after_first_factor(&page, outcome, false).await),
        Err(e @ (DomainError::InvalidCredentials | DomainError::SsoRequired)) => {
            Ok(again("password", &message(&e)))
        }
        Err(e @ DomainError::InvalidEmail) => Ok(again("email", &message(&e))),
        Err(e) => Ok(again("email", &message(&e))),
    }
}

/// The pending sign-in of this browser, or a trip back to the sign-in page.
async fn pending(page: &Page) -> Result<(Secret, Pending), PageError> {
    let Some(token) = page.cookie(PENDING).map(Secret::new) else {
        return Err(PageError::Redirect("/sign-in".into()));
    };
    match challenge::pending(&page.state, &token, Answering::SignIn).await {
        Ok(pending) => Ok((token, pending)),
        Err(DomainError::MfaTokenInvalid) => {
            Err(PageError::Redirect("/sign-in?notice=expired".into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
struct ChallengeQuery {
    method: Option<String>,
    why: Option<String>,
}

fn reason_text(why: Option<&str>) -> Option<&'static str> {
    Some(match why? {
        "new_device" => {
            "We ask for your second factor because you are signing in from a new device."
        }
        "new_location" => {
            "We ask for your second factor because you are signing in from a new place."
        }
        "impossible_travel" => {
            "We ask for a code because this sign-in comes from far away from your last one."
        }
        "policy" => "We ask for your second factor because of recent failed sign-ins.",
        _ => return None,
    })
}

/// What the challenge page shows: the chosen method and the others.
struct Choice {
    current: MethodRecord,
    others: Vec<MethodRecord>,
}

/// The method to offer: the one asked for, else the last used on this browser, else the
/// primary (the list's first).
fn choose(
    methods: Vec<MethodRecord>,
    asked: Option<&str>,
    last_used: Option<&str>,
) -> Option<Choice> {
    let pick = |id: Option<&str>| {
        id.and_then(|s| uuid::Uuid::parse_str(s).ok())
            .and_then(|u| methods.iter().position(|m| m.id.0 == u))
    };
    let last = pick(last_used).filter(|&i| methods[i].kind != MethodKind::RecoveryCode);
    let index = pick(asked).or(last).unwrap_or(0);
    let mut methods = methods;
    if methods.is_empty() {
        return None;
    }
    let current = methods.remove(index);
    Some(Choice {
        current,
        others: methods,
    })
}

fn method_views(methods: &[MethodRecord]) -> Vec<MethodDetails> {
    methods.iter().map(MethodDetails::from).collect()
}

/// Renders the challenge page for a choice, with optional extras (error, code sent).
fn challenge_view(page: &Page, choice: &Choice, extra: Value) -> Value {
    page.ctx(context! {
        method => MethodDetails::from(&choice.current),
        others => method_views(&choice.others),
        trust_days => page.state.policy.get().trusted_device_days,
        ..extra
    })
}

async fn challenge_page(page: Page, Query(q): Query<ChallengeQuery>) -> PageResult {
    let (_, pending) = match pending(&page).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let methods = challenge::choices(&page.state, &pending).await?;
    let last = page.cookie(LAST_METHOD);
    let Some(choice) = choose(methods, q.method.as_deref(), last.as_deref()) else {
        return Err(PageError::Redirect("/sign-in?notice=expired".into()));
    };
    let ctx = challenge_view(
        &page,
        &choice,
        context! { reason => reason_text(q.why.as_deref()) },
    );
    Ok(super::render(StatusCode::OK, "challenge.html", ctx))
}

#[derive(Deserialize)]
struct SendForm {
    method_id: Option<String>,
}

/// Sends a code for an email, SMS or voice method, then shows the page with a resend countdown.
async fn send_code(page: Page, PageForm(form): PageForm<SendForm>) -> PageResult {
    let (_, pending) = match pending(&page).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let methods = challenge::choices(&page.state, &pending).await?;
    let Some(choice) = choose(methods, given(&form.method_id), None) else {
        return Err(PageError::BadForm);
    };
    let extra = match challenge::send(&page.state, &page.client, &pending, choice.current.id).await
    {
        Ok(sent) => challenged(sent),
        Err(e) => {
            let retry = match &e {
                DomainError::ResendTooSoon { retry_after } => Some(*retry_after),
                _ => None,
            };
            context! {
                error => context! { field => "code", message => message(&e) },
                resend_after => retry,
            }
        }
    };
    Ok(super::render(
        StatusCode::OK,
        "challenge.html",
        challenge_view(&page, &choice, extra),
    ))
}

/// What the page shows once a challenge is sent: where the code went, or the WebAuthn request
/// options for the page's script (JSON in a data attribute: escaped like any attribute).
pub fn challenged(c: Challenged) -> Value {
    match c {
        Challenged::Sent(sent) => {
            context! { sent_to => sent.sent_to, resend_after => sent.resend_after }
        }
        Challenged::WebAuthn(options) => {
            context! { webauthn_options => options.to_string() }
        }
        Challenged::Push(p) => {
            context! { push_number => p.number, approval_id => p.approval_id.to_string() }
        }
    }
}

/// The factor a form submitted for `method`: a code, or for a security key the assertion the
/// page's script put in `credential`. `Err` is what to tell the person.
pub fn factor_from(
    method: &MethodRecord,
    code: Option<&str>,
    credential: Option<&str>,
) -> Result<FactorInput, &'static str> {
    let method_id = Some(method.id);
    if method.kind == MethodKind::WebAuthn {
        let credential = credential
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            .ok_or("Use your security key or passkey when your browser asks.")?;
        return Ok(FactorInput::WebAuthn {
            method_id,
            credential,
        });
    }
    if method.kind == MethodKind::Push {
        // the form carries the request its send step made
        let approval_id = code
            .and_then(|c| uuid::Uuid::parse_str(c).ok())
            .map(deadbolt_core::ids::ApprovalId)
            .ok_or("Choose Approve on my other device first.")?;
        return Ok(FactorInput::Push { approval_id });
    }
    let code = Secret::new(code.ok_or("Enter the code.")?.to_owned());
    Ok(match method.kind {
        MethodKind::Totp => FactorInput::Totp { method_id, code },
        MethodKind::RecoveryCode => FactorInput::RecoveryCode { code },
        kind => FactorInput::SentCode {
            kind,
            method_id,
            code,
        },
    })
}

#[derive(Deserialize)]
struct VerifyForm {
    method_id: Option<String>,
    code: Option<String>,
    credential: Option<String>,
    trust_device: Option<String>,
    /// The number the push request showed, shown again while it waits.
    push_number: Option<String>,
}

async fn verify(page: Page, PageForm(form): PageForm<VerifyForm>) -> PageResult {
    let state = &page.state;
    let (token, pending) = match pending(&page).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let methods = challenge::choices(state, &pending).await?;
    let Some(choice) = choose(methods, given(&form.method_id), None) else {
        return Err(PageError::BadForm);
    };
    let again = |msg: String| {
        let ctx = challenge_view(
            &page,
            &choice,
            context! { error => context! { field => "code", message => msg } },
        );
        super::render(StatusCode::UNPROCESSABLE_ENTITY, "challenge.html", ctx)
    };
    let factor = match factor_from(&choice.current, given(&form.code), given(&form.credential)) {
        Ok(f) => f,
        Err(msg) => return Ok(again(msg.into())),
    };
    let trust = form.trust_device.is_some();
    let input = MfaVerify {
        mfa_token: token,
        answering: Answering::SignIn,
        factor,
        trust_device: trust,
    };
    match mfa_login::verify(state, &page.client, input).await {
        Ok(done) => {
            end_previous(&page, pending.account().subject_of.is_some()).await;
            let mut cookies = vec![
                session_cookie(state, done.tokens.session_id),
                clear_cookie(state, PENDING),
            ];
            if choice.current.kind != MethodKind::RecoveryCode {
                cookies.push(set_cookie(
                    state,
                    LAST_METHOD,
                    &choice.current.id.to_string(),
                    Some(400 * 86_400),
                ));
            }
            if let Some(device) = done.device_token {
                let days = state.policy.get().trusted_device_days;
                cookies.push(set_cookie(
                    state,
                    DEVICE,
                    device.expose(),
                    Some(days * 86_400),
                ));
            }
            let to = page.after_sign_in(done.tokens.enrollment_required);
            Ok(with_cookies(see_other(to), cookies))
        }
        Err(DomainError::MfaTokenInvalid) => Ok(with_cookies(
            see_other("/sign-in?notice=expired"),
            vec![clear_cookie(state, PENDING)],
        )),
        Err(DomainError::AuthorizationPending) => Ok(super::render(
            StatusCode::OK,
            "challenge.html",
            challenge_view(&page, &choice, waiting(&form.push_number, &form.code)),
        )),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(message(&e))),
    }
}

/// The page of a push request still waiting: its number and request again, from the form
/// (the number is this screen's own; nothing else is told by it).
pub fn waiting(number: &Option<String>, approval_id: &Option<String>) -> Value {
    let number = given(number)
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (10..=99).contains(n));
    let id = given(approval_id).and_then(|s| uuid::Uuid::parse_str(s).ok());
    match (number, id) {
        (Some(n), Some(id)) => context! { push_number => n, approval_id => id.to_string() },
        _ => context! {},
    }
}

#[derive(Deserialize)]
struct PasskeyForm {
    challenge_id: Option<String>,
    credential: Option<String>,
}

/// Finishes a passkey sign-in: the page's script asked `/v1/login/passkey/start` for options,
/// had the authenticator answer, and posts the assertion here.
async fn passkey(page: Page, PageForm(form): PageForm<PasskeyForm>) -> PageResult {
    let state = &page.state;
    let again = |msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sign_in.html",
            "passkey-sign-in",
            msg,
            context! {},
        )
    };
    let challenge = given(&form.challenge_id).and_then(|s| uuid::Uuid::parse_str(s).ok());
    let credential =
        given(&form.credential).and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
    let (Some(challenge), Some(credential)) = (challenge, credential) else {
        return Ok(again("The passkey did not answer. Try again."));
    };
    match deadbolt_usecases::passkey_login::finish(state, &page.client, challenge, &credential)
        .await
    {
        Ok(tokens) => {
            end_previous(&page, false).await;
            Ok(with_cookies(
                see_other(page.after_sign_in(false)),
                vec![
                    session_cookie(state, tokens.session_id),
                    clear_cookie(state, PENDING),
                ],
            ))
        }
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(DomainError::WrongSecondFactor { .. } | DomainError::UnknownCredential) => Ok(again(
            "That passkey is not one this service knows, or it could not be checked.",
        )),
        Err(e) => Ok(again(&message(&e))),
    }
}

async fn sign_out(SignedIn(page): SignedIn, PageForm(_): PageForm<NoFields>) -> PageResult {
    let viewer = page.viewer()?;
    sessions::logout(&page.state, &page.client, &viewer.who).await?;
    Ok(with_cookies(
        see_other("/sign-in?notice=signed-out"),
        vec![clear_cookie(&page.state, SESSION)],
    ))
}

async fn sign_up_page(page: Page) -> Response {
    page.render("sign_up.html", context! {})
}

#[derive(Deserialize)]
struct SignUpForm {
    email: Option<String>,
    password: Option<String>,
    phone: Option<String>,
}

async fn sign_up(page: Page, PageForm(form): PageForm<SignUpForm>) -> PageResult {
    let email = given(&form.email).unwrap_or_default().to_owned();
    let phone = given(&form.phone).map(str::to_owned);
    let again = |field: &str, msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sign_up.html",
            field,
            msg,
            context! { email => email, phone => phone },
        )
    };
    if email.is_empty() {
        return Ok(again("email", "Enter your email address."));
    }
    let Some(password) = form.password.filter(|p| !p.is_empty()) else {
        return Ok(again("password", "Choose a password."));
    };
    let input = accounts::SignUp {
        email: email.clone(),
        password: Secret::new(password),
        phone: phone.clone(),
    };
    match accounts::sign_up(&page.state, &page.client, input).await {
        Ok(account) => Ok(page.render(
            "verify_email.html",
            context! { email => account.email.as_str(), masked => account.email.masked() },
        )),
        Err(e @ (DomainError::WeakPassword(_) | DomainError::InvalidRequest(_))) => {
            Ok(again("password", &message(&e)))
        }
        Err(e @ DomainError::InvalidPhone) => Ok(again("phone", &message(&e))),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again("email", &message(&e))),
    }
}

#[derive(Deserialize)]
struct VerifyEmailForm {
    email: Option<String>,
    code: Option<String>,
}

async fn verify_email(page: Page, PageForm(form): PageForm<VerifyEmailForm>) -> PageResult {
    let email = given(&form.email).unwrap_or_default().to_owned();
    let masked = deadbolt_core::email::Email::parse(&email)
        .map(|e| e.masked())
        .unwrap_or_default();
    let again = |msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "verify_email.html",
            "code",
            msg,
            context! { email => email, masked => masked },
        )
    };
    let Some(code) = given(&form.code) else {
        return Ok(again("Enter the code from the email."));
    };
    let input = accounts::Verify {
        email: email.clone(),
        channel: accounts::Channel::Email,
        code: Secret::new(code.to_owned()),
    };
    match accounts::verify(&page.state, &page.client, input).await {
        Ok(_) => Ok(see_other("/sign-in?notice=verified")),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(&message(&e))),
    }
}

#[derive(Deserialize)]
struct ResendForm {
    email: Option<String>,
}

async fn resend_email(page: Page, PageForm(form): PageForm<ResendForm>) -> PageResult {
    let email = given(&form.email).unwrap_or_default().to_owned();
    let masked = deadbolt_core::email::Email::parse(&email)
        .map(|e| e.masked())
        .unwrap_or_default();
    let input = accounts::Resend {
        email: email.clone(),
        channel: accounts::Channel::Email,
    };
    accounts::resend(&page.state, &page.client, input).await?;
    Ok(page.render(
        "verify_email.html",
        context! { email => email, masked => masked, resent => true },
    ))
}
