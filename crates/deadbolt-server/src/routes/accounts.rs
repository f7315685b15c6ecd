//! Sign-up and verification.

use super::{BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Client};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::account::Account;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::accounts::{self, Channel, Resend, SignUp, Verify};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(verify))
        .routes(routes!(resend))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// The sign-in address; a 6-digit code is sent to it.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 to 256 characters, and not easy to guess (judged by zxcvbn).
    #[schema(format = Password, min_length = 8, max_length = 256)]
    password: String,
    /// E.164, like `+12015550123`.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$")]
    phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountCreated {
    id: uuid::Uuid,
    email: String,
    email_verified: bool,
    phone: Option<String>,
    phone_verified: bool,
}

impl From<&Account> for AccountCreated {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.0,
            email: a.email.as_str().to_owned(),
            email_verified: a.email_verified,
            phone: a.phone.as_ref().map(|p| p.as_str().to_owned()),
            phone_verified: a.phone_verified,
        }
    }
}

/// Creates an account. Anyone may call it.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = CreateAccount, responses(
    (status = 201, body = AccountCreated),
    (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`: sign-ups from this client address over `[limits] signups_per_ip_per_hour`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn create_account(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<CreateAccount>,
) -> ApiResult<(StatusCode, Json<AccountCreated>)> {
    let account = accounts::sign_up(
        &state,
        &client,
        SignUp {
            email: body.email,
            password: Secret::new(body.password),
            phone: body.phone,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AccountCreated::from(&account))))
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum VerifyChannel {
    Email,
    Sms,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    channel: VerifyChannel,
    /// The 6-digit code that was sent.
    #[schema(pattern = "^[0-9]{6}$")]
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    email_verified: bool,
    phone_verified: bool,
}

/// Proves an email (or phone) with the code sent to it. Anyone may call it; wrong, expired and
/// unknown all answer `invalid_code`.
#[utoipa::path(post, path = "/v1/accounts/verify", tag = "accounts", request_body = VerifyRequest, responses(
    (status = 200, body = VerifyResponse),
    (status = 429, description = "`too_many_attempts`: this account's wrong codes over `[limits] code_failures_per_account`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    let channel = match body.channel {
        VerifyChannel::Email => Channel::Email,
        VerifyChannel::Sms => Channel::Sms,
    };
    let account = accounts::verify(
        &state,
        &client,
        Verify {
            email: body.email,
            channel,
            code: Secret::new(body.code),
        },
    )
    .await?;
    Ok(Json(VerifyResponse {
        email_verified: account.email_verified,
        phone_verified: account.phone_verified,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    channel: VerifyChannel,
}

/// Sends a new verification code. Anyone may call it; the answer is 202 whether or not the
/// account exists, and resends are throttled (a wait between sends, hourly caps per account and
/// per destination).
#[utoipa::path(post, path = "/v1/accounts/verify/resend", tag = "accounts", request_body = ResendRequest, responses(
    (status = 202, description = "If there is something to verify, a code is on its way"),
    BodyProblems,
    Unavailable,
))]
async fn resend(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResendRequest>,
) -> ApiResult<StatusCode> {
    let channel = match body.channel {
        VerifyChannel::Email => Channel::Email,
        VerifyChannel::Sms => Channel::Sms,
    };
    accounts::resend(
        &state,
        &client,
        Resend {
            email: body.email,
            channel,
        },
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}
