//! `/v1/teams`: teams of accounts and their members.

use super::{AuthProblems, BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ClientInfo, Principal};
use crate::services::teams::{self, Team};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::{AccountId, TeamId};
use deadbolt_store::MemberRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(add_member))
        .routes(routes!(change_member, remove_member))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamCreated {
    id: uuid::Uuid,
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    account_id: uuid::Uuid,
    email: String,
    /// `owner`, `admin` or `member`.
    role: String,
}

impl From<&MemberRecord> for MemberView {
    fn from(m: &MemberRecord) -> Self {
        Self {
            account_id: m.account_id.0,
            email: m.email.clone(),
            role: m.role.as_str().to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    id: uuid::Uuid,
    name: String,
    members: Vec<MemberView>,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        Self {
            id: t.team.id.0,
            name: t.team.name.clone(),
            members: t.members.iter().map(MemberView::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    items: Vec<TeamView>,
}

/// Problems of the member-changing calls.
#[derive(utoipa::IntoResponses)]
pub enum ManageProblems {
    /// `forbidden`: the caller's role does not allow this change.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// `not_found`: no such team (for the caller), member or account.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// `already_member`, or `last_owner`: a team keeps at least one owner.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
}

/// Makes a team; the caller is its owner.
#[utoipa::path(post, path = "/v1/teams", tag = "teams", security(("bearer" = [])), request_body = NewTeam, responses(
    (status = 201, body = TeamCreated), AuthProblems, BodyProblems, Unavailable,
))]
async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    who: Principal,
    ApiJson(body): ApiJson<NewTeam>,
) -> ApiResult<(StatusCode, Json<TeamCreated>)> {
    let team = teams::create(&state, &client, &who, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(TeamCreated {
            id: team.id.0,
            name: team.name,
        }),
    ))
}

/// The caller's teams, with members and roles.
#[utoipa::path(get, path = "/v1/teams", tag = "teams", security(("bearer" = [])), responses(
    (status = 200, body = TeamList), AuthProblems, Unavailable,
))]
async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<Json<TeamList>> {
    let all = teams::list(&state, &who).await?;
    Ok(Json(TeamList {
        items: all.iter().map(TeamView::from).collect(),
    }))
}

/// One of the caller's teams.
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 200, body = TeamView),
    (status = 400, description = "`invalid_request`: the id is not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, Unavailable,
))]
async fn get(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<TeamId>,
) -> ApiResult<Json<TeamView>> {
    let team = teams::get(&state, &who, id).await?;
    Ok(Json(TeamView::from(&team)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    email: String,
    /// `owner`, `admin` or `member`.
    role: String,
}

/// Adds an account to the team (step-up `team.manage`). Owners add anyone; admins add admins
/// and members.
#[utoipa::path(post, path = "/v1/teams/{id}/members", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = NewMember, responses(
    (status = 201, body = MemberView), ManageProblems, AuthProblems, BodyProblems, Unavailable,
))]
async fn add_member(
    State(state): State<AppState>,
    client: ClientInfo,
    who: Principal,
    ApiPath(id): ApiPath<TeamId>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let member = teams::add_member(&state, &client, &who, id, &body.email, &body.role).await?;
    Ok((StatusCode::CREATED, Json(MemberView::from(&member))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: String,
}

/// Changes a member's role (step-up `team.manage`); the last owner cannot be demoted.
#[utoipa::path(patch, path = "/v1/teams/{id}/members/{account_id}", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("account_id" = uuid::Uuid, Path)), request_body = RoleChange, responses(
    (status = 200, body = MemberView), ManageProblems, AuthProblems, BodyProblems, Unavailable,
))]
async fn change_member(
    State(state): State<AppState>,
    client: ClientInfo,
    who: Principal,
    ApiPath((id, account)): ApiPath<(TeamId, AccountId)>,
    ApiJson(body): ApiJson<RoleChange>,
) -> ApiResult<Json<MemberView>> {
    let member = teams::change_role(&state, &client, &who, id, account, &body.role).await?;
    Ok(Json(MemberView::from(&member)))
}

/// Removes a member (step-up `team.manage`); anyone may leave; the last owner cannot go.
#[utoipa::path(delete, path = "/v1/teams/{id}/members/{account_id}", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("account_id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Removed"),
    (status = 400, description = "`invalid_request`: an id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ManageProblems, AuthProblems, Unavailable,
))]
async fn remove_member(
    State(state): State<AppState>,
    client: ClientInfo,
    who: Principal,
    ApiPath((id, account)): ApiPath<(TeamId, AccountId)>,
) -> ApiResult<StatusCode> {
    teams::remove_member(&state, &client, &who, id, account).await?;
    Ok(StatusCode::NO_CONTENT)
}
