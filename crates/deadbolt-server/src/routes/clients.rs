//! `/v1/admin/clients`: the OpenID Connect clients (relying parties), for administrators under
//! step-up `client.manage`.

use super::admin::AdminProblems;
use super::{AuthProblems, BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client, EmptyBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::oidc_client::ClientInput;
use deadbolt_store::ClientRecord;
use deadbolt_usecases::clients::{self, NewClient};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(rotate_secret))
        .routes(routes!(delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientRequest {
    /// 1 to 100 characters.
    name: String,
    /// At least one; each absolute, without a fragment: `https://…`, `http://` to
    /// `localhost`, `127.0.0.1` or `[::1]` only, or (public clients) a private-use scheme with
    /// a dot such as `com.example.app:/cb`. Matched later by exact string comparison.
    redirect_uris: Vec<String>,
    /// Where a client may send the user after signing out; the same rules.
    post_logout_redirect_uris: Option<Vec<String>>,
    /// True: no secret (PKCE only). False: a confidential client with a secret.
    public: bool,
    /// True: the service's own app (no consent screen later). False: a third party.
    first_party: bool,
    /// A subset of `authorization_code`, `refresh_token`, `device_code`; `refresh_token` needs
    /// one of the others.
    grants: Vec<String>,
    /// A subset of `openid profile email phone offline_access` that includes `openid`
    /// (default: all).
    scopes: Option<Vec<String>>,
    /// `RS256` (default, as OpenID Connect's) or `EdDSA`.
    id_token_signed_response_alg: Option<String>,
    /// Confidential clients only: the public keys (a JWKS, `{"keys": [...]}`: EC P-256, OKP
    /// Ed25519 or RSA of 2048 bits or more) its signed request objects (RFC 9101) are checked
    /// with. Needed to name its own users (subjects) at the authorization endpoint.
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
}

/// A client, never with its secret.
#[derive(Serialize, ToSchema)]
pub struct ClientView {
    client_id: String,
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    public: bool,
    first_party: bool,
    grants: Vec<String>,
    scopes: Vec<String>,
    id_token_signed_response_alg: String,
    /// The public keys it signs request objects with, if it registered any.
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<&ClientRecord> for ClientView {
    fn from(c: &ClientRecord) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            public: c.public,
            first_party: c.first_party,
            grants: c.grants.clone(),
            scopes: c.scopes.clone(),
            id_token_signed_response_alg: c.id_token_alg.clone(),
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            created_at: c.created_at,
        }
    }
}

/// A client just registered: its secret (confidential clients only) is in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedClient {
    /// Shown this once; only its keyed hash is stored. Absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(flatten)]
    client: ClientView,
}

impl From<NewClient> for CreatedClient {
    fn from(made: NewClient) -> Self {
        Self {
            client_secret: made.secret.map(|s| s.expose().to_owned()),
            client: ClientView::from(&made.record),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    items: Vec<ClientView>,
}

/// A client's new secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    client_id: String,
    client_secret: String,
}

/// Registers an OpenID Connect client (step-up `client.manage`: 401
/// `insufficient_user_authentication` otherwise). A confidential client's secret is in this
/// answer only.
#[utoipa::path(post, path = "/v1/admin/clients", tag = "admin", security(("bearer" = [])), request_body = NewClientRequest, responses(
    (status = 201, body = CreatedClient),
    AdminProblems, AuthProblems, BodyProblems, Unavailable,
))]
async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<NewClientRequest>,
) -> ApiResult<(StatusCode, Json<CreatedClient>)> {
    let input = ClientInput {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris.unwrap_or_default(),
        public: body.public,
        first_party: body.first_party,
        grants: Some(body.grants),
        scopes: body.scopes,
        id_token_signed_response_alg: body.id_token_signed_response_alg,
        jwks: body.jwks,
    };
    let made = clients::create(&state, &client, &who, input).await?;
    Ok((StatusCode::CREATED, Json(CreatedClient::from(made))))
}

/// Every registered client, oldest first; never a secret.
#[utoipa::path(get, path = "/v1/admin/clients", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, body = ClientList),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<ClientList>> {
    let items = clients::list(&state, &who).await?;
    Ok(Json(ClientList {
        items: items.iter().map(ClientView::from).collect(),
    }))
}

/// Gives a confidential client a new secret (step-up `client.manage`); the old one stops
/// working at once. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/admin/clients/{client_id}/secret", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path)), responses(
    (status = 200, body = RotatedSecret),
    (status = 400, description = "`invalid_request`: a public client has no secret", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn rotate_secret(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(client_id): ApiPath<String>,
    _body: EmptyBody,
) -> ApiResult<Json<RotatedSecret>> {
    let made = clients::rotate_secret(&state, &client, &who, &client_id).await?;
    Ok(Json(RotatedSecret {
        client_id: made.record.client_id,
        client_secret: made
            .secret
            .map(|s| s.expose().to_owned())
            .unwrap_or_default(),
    }))
}

/// Deletes a client (step-up `client.manage`): its id never authenticates again.
#[utoipa::path(delete, path = "/v1/admin/clients/{client_id}", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(client_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    clients::delete(&state, &client, &who, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
