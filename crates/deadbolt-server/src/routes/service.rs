//! Liveness, readiness, keys and metrics.

use crate::error::{ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use deadbolt_usecases::DomainError;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(jwks))
        .routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` (process up) or `ready` (database answers).
    status: &'static str,
}

/// Answers while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Status)))]
async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Answers 200 when the database does, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "service", responses(
    (status = 200, body = Status),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Status { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(DomainError::Unavailable.into())
        }
    }
}

/// A public signing key: Ed25519 (`kty` `OKP`, `alg` `EdDSA`, with `crv` and `x`) or RSA (`kty`
/// `RSA`, `alg` `RS256`, with `n` and `e`).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    kty: String,
    alg: String,
    #[serde(rename = "use")]
    use_: String,
    kid: String,
    /// `OKP` keys: `Ed25519`.
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    /// `OKP` keys: the public key, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// `RSA` keys: the modulus, base64url, big-endian.
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// `RSA` keys: the public exponent, base64url, big-endian.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

/// The public keys that verify access and step-up tokens (Ed25519) and OpenID Connect ID tokens
/// (Ed25519, or RSA for clients registered with RS256): a JWK Set, with `kid`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "service", responses((status = 200, body = JwkSet)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.keys.jwks(state.clock.now())),
    )
}

/// Prometheus text format: requests by route and status with latency histograms, logins by
/// outcome. Only where `[metrics] public` is set; otherwise 404, as for any unknown path.
#[utoipa::path(get, path = "/metrics", tag = "service", responses(
    (status = 200, body = String, content_type = "text/plain; version=0.0.4"),
    (status = 404, description = "`not_found`: metrics are not served here", body = Problem, content_type = "application/problem+json"),
))]
async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    if !state.config.metrics.public {
        return Err(DomainError::NotFound.into());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}
