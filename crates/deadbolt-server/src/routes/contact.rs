//! `/v1/me/email` and `/v1/me/phone`: changing where codes go, proven by a code to the new one.

use super::{AuthProblems, BodyProblems, SendProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Client};
use crate::routes::me::Me;
use crate::routes::views::CodeSentView;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::contact::{self, Contact};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_email))
        .routes(routes!(verify_email))
        .routes(routes!(change_phone))
        .routes(routes!(verify_phone))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmail {
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPhone {
    /// E.164, like `+12015550123`.
    phone: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCode {
    /// The 6-digit code sent to the new address.
    code: String,
}

/// Starts an email change (step-up `email.change`): a code goes to the new address; the old
/// one stays until `POST /v1/me/email/verify`. 409 `email_taken` when another account has it.
#[utoipa::path(post, path = "/v1/me/email", tag = "me", security(("bearer" = [])), request_body = NewEmail, responses(
    (status = 202, body = CodeSentView),
    (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn change_email(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<NewEmail>,
) -> ApiResult<(StatusCode, Json<CodeSentView>)> {
    let sent = contact::start(&state, &client, &who, Contact::Email, &body.email).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

/// Completes an email change with the code sent to the new address; the old one is told.
/// Wrong code: 400 `invalid_code`.
#[utoipa::path(post, path = "/v1/me/email/verify", tag = "me", security(("bearer" = [])), request_body = ChangeCode, responses(
    (status = 200, body = Me),
    (status = 429, description = "`too_many_attempts`: this account's wrong codes over `[limits] code_failures_per_account`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<ChangeCode>,
) -> ApiResult<Json<Me>> {
    let code = Secret::new(body.code);
    let account = contact::confirm(&state, &client, &who, Contact::Email, &code).await?;
    Ok(Json(Me::of(&state, &account).await?))
}

/// Starts a phone change (step-up `phone.change`): a code is texted to the new number; the
/// old one stays until `POST /v1/me/phone/verify`.
#[utoipa::path(post, path = "/v1/me/phone", tag = "me", security(("bearer" = [])), request_body = NewPhone, responses(
    (status = 202, body = CodeSentView),
    AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn change_phone(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<NewPhone>,
) -> ApiResult<(StatusCode, Json<CodeSentView>)> {
    let sent = contact::start(&state, &client, &who, Contact::Phone, &body.phone).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

/// Completes a phone change with the code texted to the new number; the old one is told.
/// Wrong code: 400 `invalid_code`.
#[utoipa::path(post, path = "/v1/me/phone/verify", tag = "me", security(("bearer" = [])), request_body = ChangeCode, responses(
    (status = 200, body = Me),
    (status = 429, description = "`too_many_attempts`: this account's wrong codes over `[limits] code_failures_per_account`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn verify_phone(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<ChangeCode>,
) -> ApiResult<Json<Me>> {
    let code = Secret::new(body.code);
    let account = contact::confirm(&state, &client, &who, Contact::Phone, &code).await?;
    Ok(Json(Me::of(&state, &account).await?))
}
