//! `/v1/admin`: the operator's surface (role `admin`, signed in with a second factor).

use super::{AuthProblems, BodyProblems, Unavailable};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client, EmptyBody};
use crate::routes::me::{EventList, Me};
use crate::routes::paging::{Page, PageQuery};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::{AccountId, MessageId};
use deadbolt_core::secret::Secret;
use deadbolt_store::EventCursor;
use deadbolt_usecases::accounts::VouchedAccount;
use deadbolt_usecases::admin;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead_letter))
        .routes(routes!(create_account, find_accounts))
        .routes(routes!(mfa_reset))
        .routes(routes!(unlock))
        .routes(routes!(events))
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
    Caller(who): Caller,
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
    Caller(who): Caller,
    ApiPath(id): ApiPath<MessageId>,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    admin::retry_dead_letter(&state, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    email: String,
    /// Omitted: the account has no password until a reset (or signs in through SSO).
    #[schema(format = Password)]
    password: Option<String>,
    phone: Option<String>,
    email_verified: Option<bool>,
    phone_verified: Option<bool>,
    roles: Option<Vec<String>>,
    /// The identity provider of an account that signs in elsewhere: no password login here.
    sso_provider: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    items: Vec<Me>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    /// The account's email.
    email: String,
}

/// The admin problems: not an admin (or signed in without a second factor).
#[derive(utoipa::IntoResponses)]
pub enum AdminProblems {
    /// `forbidden`
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Creates an account; the administrator says which channels are verified (no code is sent).
/// Giving it the `admin` role needs a step-up `admin.grant` (401
/// `insufficient_user_authentication` otherwise), spent by that one account.
#[utoipa::path(post, path = "/v1/admin/accounts", tag = "admin", security(("bearer" = [])), request_body = NewAccount, responses(
    (status = 201, body = Me),
    (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, BodyProblems, Unavailable,
))]
async fn create_account(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<NewAccount>,
) -> ApiResult<(StatusCode, Json<Me>)> {
    let input = VouchedAccount {
        email: body.email,
        password: body.password.map(Secret::new),
        phone: body.phone,
        email_verified: body.email_verified.unwrap_or(false),
        phone_verified: body.phone_verified.unwrap_or(false),
        roles: body.roles.unwrap_or_default(),
        sso_provider: body.sso_provider,
    };
    let account = admin::create_account(&state, &client, &who, input).await?;
    Ok((StatusCode::CREATED, Json(Me::of(&state, &account).await?)))
}

/// Finds accounts by email.
#[utoipa::path(get, path = "/v1/admin/accounts", tag = "admin", security(("bearer" = [])), params(FindQuery), responses(
    (status = 200, body = AccountList),
    (status = 400, description = "`invalid_request`: no email given", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn find_accounts(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<FindQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AccountList>> {
    admin::require_admin(&state, &who).await?;
    let Query(q) =
        query.map_err(|e| ApiError::invalid_request(format!("bad query: {}", e.body_text())))?;
    let mut items = Vec::new();
    for a in admin::find_accounts(&state, &who, &q.email).await? {
        items.push(Me::of(&state, &a).await?);
    }
    Ok(Json(AccountList { items }))
}

/// Resets an account's MFA (step-up `admin.mfa_reset`); the user is told by email.
#[utoipa::path(post, path = "/v1/admin/accounts/{id}/mfa/reset", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Reset"),
    (status = 400, description = "`invalid_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn mfa_reset(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<AccountId>,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    admin::mfa_reset(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts an account's lockouts (password and second-factor failure counts, authenticator waits).
#[utoipa::path(post, path = "/v1/admin/accounts/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Unlocked"),
    (status = 400, description = "`invalid_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn unlock(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<AccountId>,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    admin::unlock(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every account's security events, newest first.
#[utoipa::path(get, path = "/v1/admin/events", tag = "admin", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = EventList),
    (status = 400, description = "`invalid_request`: bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    AdminProblems, AuthProblems, Unavailable,
))]
async fn events(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EventList>> {
    admin::require_admin(&state, &who).await?;
    let page = Page::parse(query)?;
    let cursor = page.after.map(|(at, id)| EventCursor {
        at,
        id: deadbolt_core::ids::EventId(id),
    });
    let items = admin::events(&state, &who, cursor, page.limit).await?;
    let next_cursor = page.next_cursor(items.len(), items.last().map(|e| (e.at, e.id.0)));
    Ok(Json(EventList::of(items, next_cursor)))
}
