//! The two-step login: `POST /v1/login`, then `/v1/login/mfa/challenge` and
//! `/v1/login/mfa/verify` when a second factor is needed.

use super::{BodyProblems, SendProblems, Unavailable};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo};
use crate::routes::factor_input::factor_input;
use crate::routes::tokens::TokenResponse;
use crate::routes::views::{CodeSentView, FactorType, MethodView};
use crate::services::factors;
use crate::services::login::{self, Login, LoginOutcome};
use crate::services::mfa_login::{self, MfaVerify};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use deadbolt_core::ids::MethodId;
use deadbolt_core::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(challenge))
        .routes(routes!(verify))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(format = Email)]
    email: String,
    #[schema(format = Password)]
    password: String,
    /// A trusted-device token from an earlier second-factor login.
    device_token: Option<String>,
}

/// A second factor is needed: pass one with `mfa_token` to `/v1/login/mfa/verify`.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    mfa_required: bool,
    /// Short-lived and single-purpose: it grants nothing but the second step.
    mfa_token: String,
    expires_in: i64,
    /// The usable methods, primary first.
    methods: Vec<MethodView>,
    /// Present when a risk signal asked for the second factor: `new_device`, `new_location`,
    /// `impossible_travel` or `policy` (a burst of failed passwords).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    SignedIn(TokenResponse),
    SecondFactor(MfaRequired),
}

/// Signs in with email and password. Anyone may call it. Wrong password and unknown email
/// answer alike; repeated failures per email and per client address answer 429. Accounts with
/// MFA get an `mfa_token` instead of tokens, unless `device_token` names a trusted device.
#[utoipa::path(post, path = "/v1/login", tag = "login", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "`invalid_credentials`, or `sso_required`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`sign_in_refused` (risk policy; with `reason`) or `location_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let input = Login {
        email: body.email,
        password: Secret::new(body.password),
        device_token: body.device_token.map(Secret::new),
    };
    Ok(Json(match login::login(&state, &client, input).await? {
        LoginOutcome::SignedIn(tokens) => LoginResponse::SignedIn(TokenResponse::from(tokens)),
        LoginOutcome::MfaRequired {
            mfa_token,
            expires_in,
            methods,
            reason,
        } => LoginResponse::SecondFactor(MfaRequired {
            mfa_required: true,
            mfa_token: mfa_token.expose().to_owned(),
            expires_in,
            methods: methods.iter().map(MethodView::from).collect(),
            reason,
        }),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    mfa_token: String,
    method_id: uuid::Uuid,
}

/// Asks for a code to be sent (email, SMS, voice) or for WebAuthn request options. TOTP and
/// recovery codes need nothing sent: they answer 400.
#[utoipa::path(post, path = "/v1/login/mfa/challenge", tag = "login", request_body = ChallengeRequest, responses(
    (status = 202, description = "A code was sent", body = CodeSentView),
    (status = 401, description = "`mfa_token_invalid`", body = Problem, content_type = "application/problem+json"),
    SendProblems,
    BodyProblems,
    Unavailable,
))]
async fn challenge(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ChallengeRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<CodeSentView>)> {
    let (challenge, _) = mfa_login::login_challenge(&state, &Secret::new(body.mfa_token)).await?;
    let sent =
        factors::send_challenge(&state, &client, &challenge, MethodId(body.method_id)).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(sent.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    mfa_token: String,
    /// Which method (optional when the account has one of that type).
    method_id: Option<uuid::Uuid>,
    #[serde(rename = "type")]
    type_: FactorType,
    /// The code, for TOTP and recovery codes.
    code: Option<String>,
    /// A WebAuthn assertion (AuthenticationResponseJSON).
    credential: Option<serde_json::Value>,
    /// Remember this device: the answer carries a `device_token`.
    trust_device: Option<bool>,
}

/// Completes a login with a second factor. A wrong code is 401 `invalid_code` with
/// `attempts_remaining`; after 5 the token is dead (`mfa_token_invalid`). Too many failures on
/// the account lock second-factor checks (429 `mfa_locked`).
#[utoipa::path(post, path = "/v1/login/mfa/verify", tag = "login", request_body = VerifyRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_code` (with `attempts_remaining`) or `mfa_token_invalid`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`mfa_locked` or `too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn verify(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Json<TokenResponse>> {
    if body.credential.is_some() {
        return Err(ApiError::InvalidRequest(
            "this account has no WebAuthn credential".into(),
        ));
    }
    let input = MfaVerify {
        mfa_token: Secret::new(body.mfa_token),
        factor: factor_input(body.type_, body.method_id, body.code)?,
        trust_device: body.trust_device.unwrap_or(false),
    };
    let done = mfa_login::verify(&state, &client, input).await?;
    let mut response = TokenResponse::from(done.tokens);
    response.device_token = done.device_token.map(|t| t.expose().to_owned());
    Ok(Json(response))
}
