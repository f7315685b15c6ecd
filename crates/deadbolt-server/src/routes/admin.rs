//! `/v1/admin`: the operator's surface (role `admin`, signed in with a second factor).

use super::{AuthProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, EmptyBody, Principal};
use crate::routes::paging::{Page, PageQuery};
use crate::services::admin;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::MessageId;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead_letter))
}

/// A message delivery gave up on (never its body, which may carry a code).
#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    id: uuid::Uuid,
    /// `email`, `sms` or `voice`.
    channel: String,
    recipient: String,
    subject: String,
    attempts: u32,
    /// The provider's last answer.
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterList {
    items: Vec<DeadLetterView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Messages the outbox gave up on after `[delivery] max_attempts` tries (or a permanent refusal
/// by the provider), newest first. Admins only (403 `forbidden` otherwise).
#[utoipa::path(get, path = "/v1/admin/outbox/dead", tag = "admin", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = DeadLetterList),
    (status = 400, description = "`invalid_request`: bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not an admin, or signed in without a second factor", body = Problem, content_type = "application/problem+json"),
    AuthProblems, Unavailable,
))]
async fn dead_letters(
    State(state): State<AppState>,
    who: Principal,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<DeadLetterList>> {
    admin::require_admin(&state, &who).await?;
    let page = Page::parse(query)?;
    let after = page.after.map(|(at, id)| (at, MessageId(id)));
    let items = admin::dead_letters(&state, &who, after, page.limit).await?;
    let next_cursor = page.next_cursor(items.len(), items.last().map(|m| (m.created_at, m.id.0)));
    Ok(Json(DeadLetterList {
        items: items
            .into_iter()
            .map(|m| DeadLetterView {
                id: m.id.0,
                channel: m.channel,
                recipient: m.recipient,
                subject: m.subject,
                attempts: m.attempts,
                last_error: m.last_error,
                created_at: m.created_at,
            })
            .collect(),
        next_cursor,
    }))
}

/// Gives a dead message a fresh round of tries. Admins only. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/admin/outbox/{message_id}/retry", tag = "admin", security(("bearer" = [])),
    params(("message_id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Queued again"),
    (status = 400, description = "`invalid_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: no dead message with this id", body = Problem, content_type = "application/problem+json"),
    AuthProblems, Unavailable,
))]
async fn retry_dead_letter(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<MessageId>,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    admin::retry_dead_letter(&state, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
