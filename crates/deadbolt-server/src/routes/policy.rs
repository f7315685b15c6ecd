//! `/v1/admin/policy`: the central policy, read and replaced whole.

use super::admin::AdminProblems;
use super::{AuthProblems, BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Client};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use deadbolt_core::policy::Policy;
use deadbolt_usecases::policy;
use deadbolt_usecases::DomainError;
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_policy, put_policy))
}

/// The policy document with its version as the ETag.
fn answer(version: i64, policy: Arc<Policy>) -> Response {
    let mut response = Json(&*policy).into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// The policy in force: `mfa` (enforcement, required_for_roles, allowed_methods), `totp`,
/// `lockout`, `trusted_device_days`, `step_up` (`default` and per-action `actions`, each
/// `{window_seconds, sliding, methods}`), `risk` (a response per signal: `allow`,
/// `second_factor`, `email_code` or `refuse`; `max_travel_kmh`, `burst_failures`) and
/// `locations` (per role: `networks`, `countries`). The `ETag` is its version.
#[utoipa::path(get, path = "/v1/admin/policy", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "The policy", body = Object),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn get_policy(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Response> {
    let (version, policy) = policy::current(&state, &who).await?;
    Ok(answer(version, policy))
}

/// Replaces the whole policy, in the shape GET returns (step-up `policy.change`). Send the
/// `ETag` GET returned as `If-Match` to be refused (412) rather than overwrite another
/// administrator's change made meanwhile. Every change is recorded as a `policy_changed` event
/// with before and after; other instances apply it within a second.
#[utoipa::path(put, path = "/v1/admin/policy", tag = "admin", security(("bearer" = [])),
    request_body(content = Object, description = "The whole policy, as GET returns it"), responses(
    (status = 200, description = "The policy now in force", body = Object),
    (status = 400, description = "`invalid_policy` (with `field` and `problems`), or `invalid_request`: malformed JSON", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`insufficient_user_authentication`: step up for `policy.change` first; or an invalid token", body = Problem, content_type = "application/problem+json"),
    (status = 412, description = "`precondition_failed`: `If-Match` names a version that is no longer current", body = Problem, content_type = "application/problem+json"),
    AdminProblems, BodyProblems, Unavailable,
))]
async fn put_policy(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let expected = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().trim_matches('"').parse::<i64>().ok())
                .ok_or_else(|| {
                    DomainError::InvalidRequest("If-Match must be the ETag GET returned".into())
                })?,
        ),
    };
    let (version, policy) = policy::replace(&state, &client, &who, body, expected).await?;
    Ok(answer(version, policy))
}
