//! `/v1/password-reset`: an emailed code, then (for accounts with MFA) a second factor.

use super::{BodyProblems, SendProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Client};
use crate::routes::factor_input::{factor_input, push_input};
use crate::routes::views::{ChallengeAnswer, CodeSentView, FactorType, MethodView};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::challenge::{self, Answering};
use deadbolt_usecases::reset;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(verify))
        .routes(routes!(challenge))
        .routes(routes!(complete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(format = Email)]
    email: String,
}

/// Sends a reset code to the account's verified email. Anyone may call it; the answer is the
/// same whether or not the account exists.
#[utoipa::path(post, path = "/v1/password-reset", tag = "password-reset", request_body = ResetRequest, responses(
    (status = 202, description = "If the account exists, a code is on its way"),
    BodyProblems, Unavailable,
))]
async fn start(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<StatusCode> {
    reset::start(&state, &client, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetVerify {
    #[schema(format = Email)]
    email: String,
    #[schema(pattern = "^[0-9]{6}$")]
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResetStarted {
    /// Short-lived, good only for `/v1/password-reset/challenge` and `/complete`.
    reset_token: String,
    expires_in: i64,
    /// True when `/complete` needs a second factor.
    mfa_required: bool,
    methods: Vec<MethodView>,
}

/// Trades the emailed code for a reset token. Wrong code: 400 `invalid_code`.
#[utoipa::path(post, path = "/v1/password-reset/verify", tag = "password-reset", request_body = ResetVerify, responses(
    (status = 200, body = ResetStarted),
    (status = 429, description = "`too_many_attempts`: this account's wrong codes over `[limits] code_failures_per_account`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems, Unavailable,
))]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetVerify>,
) -> ApiResult<Json<ResetStarted>> {
    let started = reset::verify(&state, &client, &body.email, &Secret::new(body.code)).await?;
    Ok(Json(ResetStarted {
        reset_token: started.reset_token.expose().to_owned(),
        expires_in: started.expires_in,
        mfa_required: started.mfa_required,
        methods: started.methods.iter().map(MethodView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetChallenge {
    reset_token: String,
    method_id: uuid::Uuid,
}

/// As the login challenge: TOTP and recovery codes need nothing sent (400).
#[utoipa::path(post, path = "/v1/password-reset/challenge", tag = "password-reset", request_body = ResetChallenge, responses(
    (status = 202, description = "A code was sent", body = CodeSentView),
    (status = 200, description = "WebAuthn request options (PublicKeyCredentialRequestOptionsJSON), also under `public_key`", body = Object),
    (status = 201, description = "A push request was made: show `number`, then verify with `approval_id`", body = crate::routes::views::PushSentView),
    (status = 401, description = "`mfa_token_invalid`: the reset token is dead", body = Problem, content_type = "application/problem+json"),
    SendProblems, BodyProblems, Unavailable,
))]
async fn challenge(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetChallenge>,
) -> ApiResult<ChallengeAnswer> {
    let token = Secret::new(body.reset_token);
    let method = deadbolt_core::ids::MethodId(body.method_id);
    let sent = challenge::send_for_token(&state, &client, &token, Answering::Reset, method).await?;
    Ok(sent.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetComplete {
    reset_token: String,
    #[schema(format = Password, min_length = 8, max_length = 256)]
    new_password: String,
    /// The second factor, for accounts with MFA (a recovery code works).
    #[serde(rename = "type")]
    type_: Option<FactorType>,
    method_id: Option<uuid::Uuid>,
    code: Option<String>,
    credential: Option<serde_json::Value>,
    /// For `type: "push"`: the request the challenge step made.
    approval_id: Option<uuid::Uuid>,
}

/// Sets the new password. Every session and trusted device is revoked and the user emailed.
#[utoipa::path(post, path = "/v1/password-reset/complete", tag = "password-reset", request_body = ResetComplete, responses(
    (status = 204, description = "The password is changed"),
    (status = 401, description = "`invalid_code` or `mfa_token_invalid`", body = Problem, content_type = "application/problem+json"),
    (status = 400, description = "`authorization_pending`: the push request waits for its approver", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled`, or `access_denied`: the approver denied the push request", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`mfa_locked` or `too_many_attempts`", body = Problem, content_type = "application/problem+json"),
    BodyProblems, Unavailable,
))]
async fn complete(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetComplete>,
) -> ApiResult<StatusCode> {
    let factor = body
        .type_
        .map(|t| match t {
            FactorType::Push => push_input(body.approval_id),
            t => factor_input(
                t,
                body.method_id,
                body.code.clone(),
                body.credential.clone(),
            ),
        })
        .transpose()?;
    reset::complete(
        &state,
        &client,
        &Secret::new(body.reset_token),
        Secret::new(body.new_password),
        factor,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
