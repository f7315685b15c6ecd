//! The signed-in caller's own account, sessions and security events.

use super::BodyProblems;
use super::{AuthProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client, EmptyBody};
use crate::routes::paging::{Page, PageQuery};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::{DeviceId, EventId, SessionId};
use deadbolt_core::secret::Secret;
use deadbolt_store::EventCursor;
use deadbolt_usecases::sessions;
use deadbolt_usecases::{devices, security};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(list_devices))
        .routes(routes!(revoke_device))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(events))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    id: uuid::Uuid,
    email: String,
    email_verified: bool,
    phone: Option<String>,
    phone_verified: bool,
    roles: Vec<String>,
    mfa_enabled: bool,
    /// The identity provider of an account that signs in elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    sso_provider: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

/// The caller's account. Any signed-in caller.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = Me),
    AuthProblems,
    Unavailable,
))]
async fn me(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Me>> {
    let a = deadbolt_usecases::sessions::account_of(&state, &who).await?;
    Ok(Json(Me::of(&state, &a).await?))
}

impl Me {
    pub async fn of(state: &AppState, a: &deadbolt_core::account::Account) -> ApiResult<Self> {
        Ok(Self {
            id: a.id.0,
            email: a.email.as_str().to_owned(),
            email_verified: a.email_verified,
            phone: a.phone.as_ref().map(|p| p.as_str().to_owned()),
            phone_verified: a.phone_verified,
            roles: a.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            mfa_enabled: deadbolt_usecases::mfa::is_on(state, a.id).await?,
            sso_provider: a.sso_provider.clone(),
            created_at: a.created_at,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    last_active_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
    amr: Vec<String>,
    acr: String,
    /// True for the session making this request.
    current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    items: Vec<SessionView>,
}

/// The caller's live sessions, newest first. Any signed-in caller.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = SessionList),
    AuthProblems,
    Unavailable,
))]
async fn list_sessions(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<SessionList>> {
    let policy = state.config.session;
    let items = sessions::list(&state, &who)
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id.0,
            created_at: s.created_at,
            last_active_at: s.last_active_at,
            expires_at: policy.expires_at(s.created_at, s.last_active_at),
            current: s.id == who.session.id,
            ip: s.ip,
            user_agent: s.user_agent,
            amr: s.amr,
            acr: s.acr,
        })
        .collect();
    Ok(Json(SessionList { items }))
}

/// Ends one of the caller's sessions (any of them, this one too).
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`invalid_request`: not a session id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no live session of yours has that id", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        Unavailable,
    ))]
async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> ApiResult<StatusCode> {
    sessions::revoke(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    id: uuid::Uuid,
    /// The account it concerns (absent for events about no account).
    account_id: Option<uuid::Uuid>,
    kind: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    items: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// The caller's security events, newest first. Any signed-in caller.
#[utoipa::path(get, path = "/v1/me/events", tag = "me", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = EventList),
    (status = 400, description = "`invalid_request`: bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    AuthProblems,
    Unavailable,
))]
async fn events(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EventList>> {
    let page_query = Page::parse(query)?;
    let cursor = page_query.after.map(|(at, id)| EventCursor {
        at,
        id: EventId(id),
    });
    let page = deadbolt_usecases::events::of_caller(&state, &who, cursor, page_query.limit).await?;
    let next_cursor = page_query.next_cursor(page.len(), page.last().map(|e| (e.at, e.id.0)));
    Ok(Json(EventList::of(page, next_cursor)))
}

impl EventList {
    pub fn of(page: Vec<deadbolt_store::EventRecord>, next_cursor: Option<String>) -> Self {
        let items = page
            .into_iter()
            .map(|e| EventView {
                id: e.id.0,
                account_id: e.account_id.map(|a| a.0),
                kind: e.kind.as_str().to_owned(),
                at: e.at,
                ip: e.ip,
                user_agent: e.user_agent,
                detail: e.detail,
            })
            .collect();
        Self { items, next_cursor }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(format = Password)]
    current_password: String,
    #[schema(format = Password, min_length = 8, max_length = 256)]
    new_password: String,
    /// Also revoke every API key of the account (for a password that leaked: keys outlive it).
    #[serde(default)]
    revoke_api_keys: bool,
}

/// Changes the password (step-up `password.change`); the caller's other sessions and trusted
/// devices are signed out, pending sign-ins and resets end, and with `revoke_api_keys` every API
/// key is revoked. A wrong current password is 401 `invalid_credentials`.
#[utoipa::path(post, path = "/v1/me/password", tag = "me", security(("bearer" = [])), request_body = PasswordChange, responses(
    (status = 204, description = "Changed"),
    (status = 429, description = "`mfa_locked`: too many wrong passwords lately, with Retry-After", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    security::change_password(
        &state,
        &client,
        &who,
        Secret::new(body.current_password),
        Secret::new(body.new_password),
        body.revoke_api_keys,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the caller's account (step-up `account.delete`). Body: empty or `{}`.
#[utoipa::path(delete, path = "/v1/me", tag = "me", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 409, description = "`last_owner`: the account is the last owner of a team with other members", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn delete_me(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    security::delete_account(&state, &client, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    id: uuid::Uuid,
    user_agent: String,
    ip: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<OffsetDateTime>,
}

#[derive(Serialize, ToSchema)]
pub struct DeviceList {
    items: Vec<DeviceView>,
}

/// The caller's trusted devices, newest first.
#[utoipa::path(get, path = "/v1/me/devices", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = DeviceList), AuthProblems, Unavailable,
))]
async fn list_devices(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<DeviceList>> {
    let items = devices::list(&state, &who)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            id: d.id.0,
            user_agent: d.user_agent,
            ip: d.ip,
            created_at: d.created_at,
            expires_at: d.expires_at,
            last_used_at: d.last_used_at,
        })
        .collect();
    Ok(Json(DeviceList { items }))
}

/// Stops trusting a device: its next login asks for the second factor again.
#[utoipa::path(delete, path = "/v1/me/devices/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Device id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`invalid_request`: not a device id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        AuthProblems, Unavailable,
    ))]
async fn revoke_device(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<DeviceId>,
) -> ApiResult<StatusCode> {
    devices::revoke(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
