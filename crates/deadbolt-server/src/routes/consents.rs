//! The applications (third-party OpenID Connect clients) the caller allowed, and taking that
//! back.

use super::{AuthProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, Caller, Client};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_usecases::oidc::consent;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_consents))
        .routes(routes!(revoke_consent))
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    client_id: String,
    client_name: String,
    /// The scopes allowed, space-separated.
    scope: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    granted_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentList {
    items: Vec<ConsentView>,
}

/// The applications the caller allowed, newest first.
#[utoipa::path(get, path = "/v1/me/consents", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = ConsentList),
    AuthProblems,
    Unavailable,
))]
async fn list_consents(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<ConsentList>> {
    let items = consent::list(&state, &who)
        .await?
        .into_iter()
        .map(|a| ConsentView {
            client_id: a.consent.client_id,
            client_name: a.client_name,
            scope: a.consent.scope,
            granted_at: a.consent.granted_at,
        })
        .collect();
    Ok(Json(ConsentList { items }))
}

/// Takes back what the caller allowed an application: its tokens for the account stop
/// working, and its next sign-in asks again.
#[utoipa::path(delete, path = "/v1/me/consents/{client_id}", tag = "me", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The application's client id")),
    responses(
        (status = 204, description = "Taken back"),
        (status = 404, description = "`not_found`: you allowed no application with that id", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        Unavailable,
    ))]
async fn revoke_consent(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(client_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if client_id.len() > 64 {
        return Err(deadbolt_usecases::DomainError::NotFound.into());
    }
    consent::revoke(&state, &client, &who, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
