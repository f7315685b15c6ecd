//! The signed-in caller's own account, sessions and security events.

use super::{AuthProblems, Unavailable};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ClientInfo, Principal};
use crate::services::sessions;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{EventId, SessionId};
use deadbolt_store::EventCursor;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
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
async fn me(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Me>> {
    let a = state
        .store
        .account_by_id(who.session.account_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    Ok(Json(Me {
        id: a.id.0,
        email: a.email.as_str().to_owned(),
        email_verified: a.email_verified,
        phone: a.phone.as_ref().map(|p| p.as_str().to_owned()),
        phone_verified: a.phone_verified,
        roles: a.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        mfa_enabled: false,
        created_at: a.created_at,
    }))
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
    who: Principal,
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
    client: ClientInfo,
    who: Principal,
    id: Result<Path<SessionId>, axum::extract::rejection::PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(id) =
        id.map_err(|_| ApiError::InvalidRequest("the session id must be a UUID".into()))?;
    sessions::revoke(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// At most this many events (1 to 100; default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    id: uuid::Uuid,
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
#[utoipa::path(get, path = "/v1/me/events", tag = "me", security(("bearer" = [])), params(EventsQuery), responses(
    (status = 200, body = EventList),
    (status = 400, description = "`invalid_request`: bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    AuthProblems,
    Unavailable,
))]
async fn events(
    State(state): State<AppState>,
    who: Principal,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EventList>> {
    let Query(q) =
        query.map_err(|e| ApiError::InvalidRequest(format!("bad query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::InvalidRequest(
            "limit must be between 1 and 100".into(),
        ));
    }
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = state
        .store
        .events_of(who.session.account_id, cursor, limit)
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|e| encode_cursor(EventCursor { at: e.at, id: e.id }))
        })
        .flatten();
    let items = page
        .into_iter()
        .map(|e| EventView {
            id: e.id.0,
            kind: e.kind.as_str().to_owned(),
            at: e.at,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        })
        .collect();
    Ok(Json(EventList { items, next_cursor }))
}

fn encode_cursor(c: EventCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", to_millis(c.at), c.id))
}

fn decode_cursor(raw: &str) -> ApiResult<EventCursor> {
    let bad = || ApiError::InvalidRequest("bad cursor".into());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ms, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(EventCursor {
        at: from_millis(ms.parse().map_err(|_| bad())?),
        id: id.parse::<EventId>().map_err(|_| bad())?,
    })
}
