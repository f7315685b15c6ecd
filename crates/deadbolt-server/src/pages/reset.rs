//! "Forgot password": an emailed code, then the new password with a second factor other than
//! that email where the account has MFA (the reset service's rule), through the same service
//! as `/v1/password-reset`. The reset token lives in an HttpOnly cookie.

use super::cookies::{clear_cookie, set_cookie, with_cookies, PENDING_SECONDS, RESET};
use super::form::{given, PageForm};
use super::page_error::{message, PageError, PageResult};
use super::see_other;
use super::sign_in::factor_from;
use super::web::Page;
use crate::routes::views::MethodDetails;
use crate::state::AppState;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use deadbolt_core::secret::Secret;
use deadbolt_store::MethodRecord;
use deadbolt_usecases::challenge::{self, Answering};
use deadbolt_usecases::reset;
use deadbolt_usecases::DomainError;
use minijinja::{context, Value};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/forgot-password", get(start_page).post(start))
        .route("/forgot-password/verify", post(verify))
        .route("/forgot-password/new", get(new_page))
        .route("/forgot-password/send", post(send))
        .route("/forgot-password/complete", post(complete))
}

async fn start_page(page: Page) -> Response {
    page.render("forgot.html", context! {})
}

#[derive(Deserialize)]
struct EmailForm {
    email: Option<String>,
}

fn masked(email: &str) -> String {
    deadbolt_core::email::Email::parse(email)
        .map(|e| e.masked())
        .unwrap_or_default()
}

async fn start(page: Page, PageForm(form): PageForm<EmailForm>) -> PageResult {
    let email = given(&form.email).unwrap_or_default().to_owned();
    if email.is_empty() {
        return Ok(page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "forgot.html",
            "email",
            "Enter your email address.",
            context! {},
        ));
    }
    reset::start(&page.state, &page.client, &email).await?;
    Ok(page.render(
        "forgot_code.html",
        context! { email => email, masked => masked(&email) },
    ))
}

#[derive(Deserialize)]
struct CodeForm {
    email: Option<String>,
    code: Option<String>,
}

async fn verify(page: Page, PageForm(form): PageForm<CodeForm>) -> PageResult {
    let email = given(&form.email).unwrap_or_default().to_owned();
    let again = |msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "forgot_code.html",
            "code",
            msg,
            context! { email => email, masked => masked(&email) },
        )
    };
    let Some(code) = given(&form.code) else {
        return Ok(again("Enter the code from the email."));
    };
    match reset::verify(
        &page.state,
        &page.client,
        &email,
        &Secret::new(code.to_owned()),
    )
    .await
    {
        Ok(started) => Ok(with_cookies(
            see_other("/forgot-password/new"),
            vec![set_cookie(
                &page.state,
                RESET,
                started.reset_token.expose(),
                Some(started.expires_in.min(PENDING_SECONDS)),
            )],
        )),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(&message(&e))),
    }
}

struct Pending {
    token: Secret,
    challenge: challenge::Pending,
    methods: Vec<MethodRecord>,
    mfa: bool,
}

async fn pending(page: &Page) -> Result<Pending, PageError> {
    let token = page
        .cookie(RESET)
        .map(Secret::new)
        .ok_or(PageError::Redirect("/forgot-password".into()))?;
    let challenge = match challenge::pending(&page.state, &token, Answering::Reset).await {
        Ok(c) => c,
        Err(DomainError::MfaTokenInvalid) => {
            return Err(PageError::Redirect("/forgot-password".into()))
        }
        Err(e) => return Err(e.into()),
    };
    let mfa = deadbolt_usecases::mfa::is_on(&page.state, challenge.account().id).await?;
    // this page keeps the new password in its form, so it cannot wait for an approval: a
    // reset by push goes through the API (`approval_id` at /v1/password-reset/complete)
    let mut methods = challenge::choices(&page.state, &challenge).await?;
    methods.retain(|m| m.kind != deadbolt_core::mfa::MethodKind::Push);
    Ok(Pending {
        token,
        challenge,
        methods,
        mfa,
    })
}

fn pick(methods: &[MethodRecord], asked: Option<&str>) -> Option<usize> {
    let asked = asked.and_then(|s| uuid::Uuid::parse_str(s).ok());
    asked
        .and_then(|u| methods.iter().position(|m| m.id.0 == u))
        .or(if methods.is_empty() { None } else { Some(0) })
}

fn view(page: &Page, p: &Pending, current: Option<usize>, extra: Value) -> Value {
    let others: Vec<MethodDetails> = p
        .methods
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != current)
        .map(|(_, m)| MethodDetails::from(m))
        .collect();
    page.ctx(context! {
        mfa => p.mfa,
        method => current.map(|i| MethodDetails::from(&p.methods[i])),
        others => others,
        send_action => "/forgot-password/send",
        ..extra
    })
}

#[derive(Deserialize)]
struct NewQuery {
    method: Option<String>,
}

async fn new_page(page: Page, Query(q): Query<NewQuery>) -> PageResult {
    let p = match pending(&page).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let current = pick(&p.methods, q.method.as_deref());
    let ctx = view(&page, &p, current, context! {});
    Ok(super::render(StatusCode::OK, "forgot_new.html", ctx))
}

#[derive(Deserialize)]
struct SendForm {
    method_id: Option<String>,
}

async fn send(page: Page, PageForm(form): PageForm<SendForm>) -> PageResult {
    let p = match pending(&page).await {
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
    let ctx = view(&page, &p, Some(current), extra);
    Ok(super::render(StatusCode::OK, "forgot_new.html", ctx))
}

#[derive(Deserialize)]
struct CompleteForm {
    new_password: Option<String>,
    method_id: Option<String>,
    code: Option<String>,
    credential: Option<String>,
}

async fn complete(page: Page, PageForm(form): PageForm<CompleteForm>) -> PageResult {
    let p = match pending(&page).await {
        Ok(p) => p,
        Err(e) => return Ok(page.error_page(e)),
    };
    let current = pick(&p.methods, given(&form.method_id));
    let again = |field: &str, msg: String| {
        let error = context! { field => field, message => msg };
        let ctx = view(&page, &p, current, context! { error => error });
        super::render(StatusCode::UNPROCESSABLE_ENTITY, "forgot_new.html", ctx)
    };
    let Some(new_password) = form.new_password.clone().filter(|s| !s.is_empty()) else {
        return Ok(again("new_password", "Choose a new password.".into()));
    };
    let factor = if p.mfa {
        let Some(i) = current else {
            return Ok(again(
                "code",
                "This account has no second factor that can confirm a reset. Ask an administrator."
                    .into(),
            ));
        };
        match factor_from(&p.methods[i], given(&form.code), given(&form.credential)) {
            Ok(f) => Some(f),
            Err(msg) => return Ok(again("code", msg.into())),
        }
    } else {
        None
    };
    match reset::complete(
        &page.state,
        &page.client,
        &p.token,
        Secret::new(new_password),
        factor,
    )
    .await
    {
        Ok(()) => Ok(with_cookies(
            see_other("/sign-in?notice=reset"),
            vec![clear_cookie(&page.state, RESET)],
        )),
        Err(DomainError::MfaTokenInvalid) => Ok(with_cookies(
            see_other("/forgot-password"),
            vec![clear_cookie(&page.state, RESET)],
        )),
        Err(e @ DomainError::WeakPassword(_)) => Ok(again("new_password", message(&e))),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again("code", message(&e))),
    }
}
