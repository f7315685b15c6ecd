//! `/v1/teams`: teams of accounts and their members.

use super::{AuthProblems, BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::{AccountId, InvitationId, TeamId};
use deadbolt_store::{InvitationRecord, MemberRecord};
use deadbolt_usecases::teams::{self, Team};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(add_member))
        .routes(routes!(change_member, remove_member))
        .routes(routes!(withdraw_invitation))
        .routes(routes!(my_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
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

/// A member of a team, or an address invited to become one.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    /// Null while `invited`: an invitation is to an address, whether or not it has an account.
    account_id: Option<uuid::Uuid>,
    email: String,
    /// `owner`, `admin` or `member` (the role offered, while `invited`).
    role: String,
    /// `active`, or `invited` until the invitee accepts.
    #[schema(inline, value_type = String, pattern = "^(active|invited)$")]
    status: &'static str,
    /// The invitation, while `invited` (to withdraw it); null for an active member.
    invitation_id: Option<uuid::Uuid>,
    /// When the invitation lapses unanswered; null for an active member.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

impl From<&MemberRecord> for MemberView {
    fn from(m: &MemberRecord) -> Self {
        Self {
            account_id: Some(m.account_id.0),
            email: m.email.clone(),
            role: m.role.as_str().to_owned(),
            status: "active",
            invitation_id: None,
            expires_at: None,
        }
    }
}

impl From<&InvitationRecord> for MemberView {
    fn from(i: &InvitationRecord) -> Self {
        Self {
            account_id: None,
            email: i.email.clone(),
            role: i.role.as_str().to_owned(),
            status: "invited",
            invitation_id: Some(i.id.0),
            expires_at: Some(i.expires_at),
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
            members: t
                .members
                .iter()
                .map(MemberView::from)
                .chain(t.invitations.iter().map(MemberView::from))
                .collect(),
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
    /// `not_found`: no such team (for the caller), member or invitation.
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
    Client(client): Client,
    Caller(who): Caller,
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
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<TeamList>> {
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
    Caller(who): Caller,
    ApiPath(id): ApiPath<TeamId>,
) -> ApiResult<Json<TeamView>> {
    let team = teams::get(&state, &who, id).await?;
    Ok(Json(TeamView::from(&team)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The address to invite.
    email: String,
    /// `owner`, `admin` or `member`.
    role: String,
}

/// An invitation just sent. Its shape and status do not depend on whether the address has an
/// account.
#[derive(Serialize, ToSchema)]
pub struct InvitationSent {
    /// The invitation (to withdraw it).
    id: uuid::Uuid,
    /// The invited address, normalised.
    email: String,
    /// The role offered: `owner`, `admin` or `member`.
    role: String,
    /// Always `invited`: nobody joins before accepting.
    #[schema(inline, value_type = String, pattern = "^invited$")]
    status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    invited_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
}

/// Problems of sending an invitation.
#[derive(utoipa::IntoResponses)]
pub enum InviteProblems {
    /// `too_many_attempts`: the caller sent too many invitations within the hour (see
    /// `Retry-After`).
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
}

/// Invites an email address to the team (step-up `team.manage`). Owners offer any role;
/// admins offer admin and member. Nobody joins before accepting; the answer is the same
/// whether or not the address has an account. An account with this verified address is told
/// by email (at most once an hour). Inviting an address again renews its invitation; a
/// member's address is `already_member`.
#[utoipa::path(post, path = "/v1/teams/{id}/members", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = NewMember, responses(
    (status = 201, body = InvitationSent), ManageProblems, InviteProblems, AuthProblems, BodyProblems, Unavailable,
))]
async fn add_member(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<TeamId>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<(StatusCode, Json<InvitationSent>)> {
    let sent = teams::invite(&state, &client, &who, id, &body.email, &body.role).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationSent {
            id: sent.id.0,
            email: sent.email,
            role: sent.role.as_str().to_owned(),
            status: "invited",
            invited_at: sent.invited_at,
            expires_at: sent.expires_at,
        }),
    ))
}

/// Withdraws an invitation of the team (step-up `team.manage`; admins may not withdraw an
/// invitation to be an owner).
#[utoipa::path(delete, path = "/v1/teams/{id}/invitations/{invitation_id}", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("invitation_id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Withdrawn"),
    (status = 400, description = "`invalid_request`: an id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ManageProblems, AuthProblems, Unavailable,
))]
async fn withdraw_invitation(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath((id, invitation)): ApiPath<(TeamId, InvitationId)>,
) -> ApiResult<StatusCode> {
    teams::withdraw(&state, &client, &who, id, invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An invitation addressed to the caller.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    id: uuid::Uuid,
    team_id: uuid::Uuid,
    team_name: String,
    /// The role offered: `owner`, `admin` or `member`.
    role: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    invited_at: OffsetDateTime,
    /// The inviter's email address.
    invited_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    items: Vec<InvitationView>,
}

impl From<&InvitationRecord> for InvitationView {
    fn from(i: &InvitationRecord) -> Self {
        Self {
            id: i.id.0,
            team_id: i.team_id.0,
            team_name: i.team_name.clone(),
            role: i.role.as_str().to_owned(),
            invited_at: i.invited_at,
            invited_by: i.invited_by_email.clone(),
            expires_at: i.expires_at,
        }
    }
}

/// Problems of answering invitations.
#[derive(utoipa::IntoResponses)]
pub enum InvitationProblems {
    /// `email_unverified`: only a verified address sees and answers its invitations.
    #[response(status = 403, content_type = "application/problem+json")]
    Unverified(Problem),
}

/// Problems of answering one invitation.
#[derive(utoipa::IntoResponses)]
pub enum AnswerProblems {
    /// `invalid_request`: the id is not a UUID.
    #[response(status = 400, content_type = "application/problem+json")]
    BadId(Problem),
    /// `not_found`: no standing invitation with this id addressed to the caller.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// The standing invitations addressed to the caller's (verified) email address.
#[utoipa::path(get, path = "/v1/me/invitations", tag = "teams", security(("bearer" = [])), responses(
    (status = 200, body = InvitationList), InvitationProblems, AuthProblems, Unavailable,
))]
async fn my_invitations(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<InvitationList>> {
    let all = teams::invitations(&state, &who).await?;
    Ok(Json(InvitationList {
        items: all.iter().map(InvitationView::from).collect(),
    }))
}

/// Accepts an invitation: the caller joins the team with the role offered. The team as it
/// is now.
#[utoipa::path(post, path = "/v1/me/invitations/{id}/accept", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 200, body = TeamView),
    (status = 409, description = "`already_member`", body = Problem, content_type = "application/problem+json"),
    InvitationProblems, AnswerProblems, AuthProblems, Unavailable,
))]
async fn accept_invitation(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<TeamView>> {
    let team = teams::accept(&state, &client, &who, id).await?;
    Ok(Json(TeamView::from(&team)))
}

/// Declines an invitation: it is gone.
#[utoipa::path(post, path = "/v1/me/invitations/{id}/decline", tag = "teams", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Declined"),
    InvitationProblems, AnswerProblems, AuthProblems, Unavailable,
))]
async fn decline_invitation(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<StatusCode> {
    teams::decline(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
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
    Client(client): Client,
    Caller(who): Caller,
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
    Client(client): Client,
    Caller(who): Caller,
    ApiPath((id, account)): ApiPath<(TeamId, AccountId)>,
) -> ApiResult<StatusCode> {
    teams::remove_member(&state, &client, &who, id, account).await?;
    Ok(StatusCode::NO_CONTENT)
}
