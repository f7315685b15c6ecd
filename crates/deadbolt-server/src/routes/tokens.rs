//! Refresh and logout.

use super::{AuthProblems, BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Client, EmptyBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::sessions::{self, IssuedTokens};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

/// A signed-in answer: an access token and the refresh token that renews it.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    mfa_required: bool,
    /// EdDSA JWT; verify with `/.well-known/jwks.json`.
    access_token: String,
    /// Single use: each refresh returns a new one.
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Present after a second-factor login that asked to trust the device: send it as
    /// `device_token` at the next login from this device to skip the second factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// Policy requires a second factor this account lacks: the token serves only `GET /v1/me`,
    /// `/v1/me/mfa` and enrolment (403 `mfa_enrollment_required` elsewhere) until a method is
    /// confirmed and the user signs in again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    enrollment_required: bool,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        Self {
            mfa_required: false,
            access_token: t.access_token,
            refresh_token: t.refresh_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: t.expires_in,
            device_token: None,
            enrollment_required: t.enrollment_required,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Anyone holding one may call it. A token used
/// twice revokes its session.
#[utoipa::path(post, path = "/v1/token/refresh", tag = "tokens", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`location_not_allowed`: policy holds the account's roles to other networks or countries", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let tokens = sessions::refresh(&state, &client, Secret::new(body.refresh_token)).await?;
    Ok(Json(TokenResponse::from(tokens)))
}

/// Ends the caller's session. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/logout", tag = "tokens", security(("bearer" = [])), responses(
    (status = 204, description = "Signed out"),
    AuthProblems,
    BodyProblems,
    Unavailable,
))]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    sessions::logout(&state, &client, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}
