//! `/v1/me/api-keys` and `/v1/api-keys/introspect`.

use super::{AuthProblems, BodyProblems, PlantProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::ApiKeyId;
use deadbolt_core::secret::Secret;
use deadbolt_store::ApiKeyRecord;
use deadbolt_usecases::api_keys;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
        .routes(routes!(introspect))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (1 to 64 characters).
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    id: uuid::Uuid,
    name: String,
    /// The key, shown this once; only its keyed hash is stored.
    key: String,
    /// Its first characters, which the list shows.
    prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    id: uuid::Uuid,
    name: String,
    prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<OffsetDateTime>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.0,
            name: k.name.clone(),
            prefix: k.shown.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    items: Vec<KeyView>,
}

/// Makes an API key for the caller's programs. The key is in this answer only.
#[utoipa::path(post, path = "/v1/me/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = NewKey, responses(
    (status = 201, body = CreatedKey), AuthProblems, PlantProblems, BodyProblems, Unavailable,
))]
async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let made = api_keys::create(&state, &client, &who, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: made.record.id.0,
            name: made.record.name,
            key: made.key.expose().to_owned(),
            prefix: made.record.shown,
            created_at: made.record.created_at,
        }),
    ))
}

/// The caller's live keys, newest first; never the keys themselves.
#[utoipa::path(get, path = "/v1/me/api-keys", tag = "api-keys", security(("bearer" = [])), responses(
    (status = 200, body = KeyList), AuthProblems, Unavailable,
))]
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<KeyList>> {
    let keys = api_keys::list(&state, &who).await?;
    Ok(Json(KeyList {
        items: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revokes one of the caller's keys (step-up `api_key.revoke`).
#[utoipa::path(delete, path = "/v1/me/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Revoked"),
    (status = 400, description = "`invalid_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, Unavailable,
))]
async fn revoke(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    api_keys::revoke(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectRequest {
    key: String,
}

#[derive(Serialize, ToSchema)]
pub struct IntrospectResponse {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// For apps that accept these keys: is this one live, and whose? No authentication (the key is
/// the secret). Unknown and revoked keys are `{"active": false}`; too many of those from one
/// client address: 429 `too_many_attempts`.
#[utoipa::path(post, path = "/v1/api-keys/introspect", tag = "api-keys", request_body = IntrospectRequest, responses(
    (status = 200, body = IntrospectResponse),
    (status = 429, description = "`too_many_attempts`", body = Problem, content_type = "application/problem+json"),
    BodyProblems, Unavailable,
))]
async fn introspect(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<IntrospectRequest>,
) -> ApiResult<Json<IntrospectResponse>> {
    let found = api_keys::introspect(&state, &client, &Secret::new(body.key)).await?;
    Ok(Json(match found.key {
        Some(k) => IntrospectResponse {
            active: true,
            account_id: Some(k.account_id.0),
            key_id: Some(k.id.0),
            name: Some(k.name),
        },
        None => IntrospectResponse {
            active: false,
            account_id: None,
            key_id: None,
            name: None,
        },
    }))
}
