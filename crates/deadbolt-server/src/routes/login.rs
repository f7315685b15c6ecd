//! `POST /v1/login`.

use super::{BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo};
use crate::routes::tokens::TokenResponse;
use crate::services::login::{self, Login};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use deadbolt_core::secret::Secret;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    #[schema(format = Password)]
    password: String,
    /// A trusted-device token from an earlier second-factor login.
    device_token: Option<String>,
}

/// Signs in with email and password. Anyone may call it. Wrong password and unknown email
/// answer alike; repeated failures per email and per client address answer 429.
#[utoipa::path(post, path = "/v1/login", tag = "login", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    // device_token starts to matter with trusted devices; it is accepted and ignored until then
    let _ = body.device_token;
    let tokens = login::login(
        &state,
        &client,
        Login {
            email: body.email,
            password: Secret::new(body.password),
        },
    )
    .await?;
    Ok(Json(TokenResponse::from(tokens)))
}
