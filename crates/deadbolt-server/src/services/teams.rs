//! Teams: an account makes one and owns it; owners and admins manage the members under the
//! `team.manage` step-up (a 300-second sliding window by default); a team always keeps an owner.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientInfo, Principal};
use crate::services::events::event;
use crate::services::stepup;
use crate::state::AppState;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, TeamId};
use deadbolt_core::stepup::Action;
use deadbolt_core::team::{self, may_change, TeamRole};
use deadbolt_store::{team_writes, BatchOutcome, MemberRecord, StoreError, TeamRecord, Write};
use serde_json::json;

pub struct Team {
    pub team: TeamRecord,
    pub members: Vec<MemberRecord>,
}

pub async fn create(
    state: &AppState,
    client: &ClientInfo,
    who: &Principal,
    name: &str,
) -> ApiResult<TeamRecord> {
    let name = team::check_name(name)?;
    let now = state.clock.now();
    let record = TeamRecord {
        id: TeamId::generate(state.rng.as_ref()),
        name,
        created_at: now,
    };
    let owner = who.session.account_id;
    let created = event(
        state,
        EventKind::TeamCreated,
        Some(owner),
        client,
        json!({"team_id": record.id, "name": record.name}),
    );
    state
        .store
        .commit(vec![
            record.insert(),
            team_writes::add(record.id, owner, TeamRole::Owner, now),
            created.write(),
        ])
        .await?;
    Ok(record)
}

/// The caller's teams, each with its members.
pub async fn list(state: &AppState, who: &Principal) -> ApiResult<Vec<Team>> {
    let mut out = Vec::new();
    for team in state.store.teams_of(who.session.account_id).await? {
        let members = state.store.members_of(team.id).await?;
        out.push(Team { team, members });
    }
    Ok(out)
}

/// One of the caller's teams; a team the caller is not in does not exist for them.
pub async fn get(state: &AppState, who: &Principal, id: TeamId) -> ApiResult<Team> {
    let team = state.store.team(id).await?.ok_or(ApiError::NotFound)?;
    let members = state.store.members_of(id).await?;
    if !members
        .iter()
        .any(|m| m.account_id == who.session.account_id)
    {
        return Err(ApiError::NotFound);
    }
    Ok(Team { team, members })
}

/// A change the caller may make: their step-up grant and the role that allowed it.
struct Allowed {
    grant: stepup::GrantUse,
    /// None when leaving (anyone may leave).
    actor_role: Option<TeamRole>,
}

/// The caller's role in the team, which must allow the change; then the step-up.
async fn authorise(
    state: &AppState,
    who: &Principal,
    team: &Team,
    from: Option<TeamRole>,
    to: Option<TeamRole>,
    target: Option<AccountId>,
) -> ApiResult<Allowed> {
    let me = who.session.account_id;
    let actor = team
        .members
        .iter()
        .find(|m| m.account_id == me)
        .map(|m| m.role)
        .ok_or(ApiError::NotFound)?;
    // leaving a team is everyone's right (the last owner's excepted, checked on write)
    let leaving = target == Some(me) && to.is_none();
    if !leaving && !may_change(actor, from, to) {
        return Err(ApiError::Forbidden(
            "only owners manage owners, and owners and admins manage members",
        ));
    }
    let grant = stepup::require(state, who, Action::TEAM_MANAGE).await?;
    Ok(Allowed {
        grant,
        actor_role: (!leaving).then_some(actor),
    })
}

/// Commits a membership change under the team's lock (PostgreSQL; SQLite has one writer), with
/// a guard that the caller still has the role the change was judged by: roles read before the
/// lock may have changed since.
async fn commit_change(
    state: &AppState,
    who: &Principal,
    allowed: Allowed,
    team: TeamId,
    change: Write,
    recorded: Write,
) -> ApiResult<BatchOutcome> {
    let mut writes: Vec<Write> = state
        .store
        .lock_bucket(&format!("team:{team}"))
        .into_iter()
        .collect();
    if let Some(role) = allowed.actor_role {
        writes.push(team_writes::holds(team, who.session.account_id, role));
    }
    writes.push(change);
    writes.push(recorded);
    stepup::commit_with(state, Some(allowed.grant), writes).await
}

/// Why a guarded change found nothing to change: the team kept its last owner, or someone
/// changed it meanwhile.
fn refused(from: TeamRole) -> ApiError {
    if from == TeamRole::Owner {
        ApiError::LastOwner
    } else {
        ApiError::InvalidRequest("the team changed meanwhile: reload it and try again".into())
    }
}

pub async fn add_member(
    state: &AppState,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    email: &str,
    role: &str,
) -> ApiResult<MemberRecord> {
    let role = TeamRole::parse(role)?;
    let team = get(state, who, id).await?;
    let allowed = authorise(state, who, &team, None, Some(role), None).await?;
    let email = Email::parse(email)?;
    let account = state
        .store
        .account_by_email(&email)
        .await?
        .ok_or(ApiError::NotFound)?;
    if team.members.iter().any(|m| m.account_id == account.id) {
        return Err(ApiError::AlreadyMember);
    }
    let added = event(
        state,
        EventKind::TeamMemberAdded,
        Some(who.session.account_id),
        client,
        json!({"team_id": id, "account_id": account.id, "role": role.as_str()}),
    );
    let change = team_writes::add(id, account.id, role, state.clock.now());
    match commit_change(state, who, allowed, id, change, added.write()).await {
        Ok(BatchOutcome::GuardFailed(_)) => Err(refused(TeamRole::Member)),
        Ok(BatchOutcome::Committed) => Ok(MemberRecord {
            team_id: id,
            account_id: account.id,
            email: account.email.as_str().to_owned(),
            role,
        }),
        // added by a parallel request
        Err(ApiError::Internal(e)) if is_conflict(&e) => Err(ApiError::AlreadyMember),
        Err(e) => Err(e),
    }
}

fn is_conflict(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Conflict))
}

/// The member `account` of the team, as the caller can see it.
fn member(team: &Team, account: AccountId) -> ApiResult<MemberRecord> {
    team.members
        .iter()
        .find(|m| m.account_id == account)
        .cloned()
        .ok_or(ApiError::NotFound)
}

pub async fn change_role(
    state: &AppState,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    account: AccountId,
    role: &str,
) -> ApiResult<MemberRecord> {
    let role = TeamRole::parse(role)?;
    let team = get(state, who, id).await?;
    let target = member(&team, account)?;
    let allowed = authorise(
        state,
        who,
        &team,
        Some(target.role),
        Some(role),
        Some(account),
    )
    .await?;
    let changed = event(
        state,
        EventKind::TeamMemberChanged,
        Some(who.session.account_id),
        client,
        json!({"team_id": id, "account_id": account, "from": target.role.as_str(), "to": role.as_str()}),
    );
    let change = team_writes::set_role(id, account, target.role, role);
    match commit_change(state, who, allowed, id, change, changed.write()).await? {
        BatchOutcome::Committed => Ok(MemberRecord { role, ..target }),
        BatchOutcome::GuardFailed(_) => Err(refused(target.role)),
    }
}

pub async fn remove_member(
    state: &AppState,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    account: AccountId,
) -> ApiResult<()> {
    let team = get(state, who, id).await?;
    let target = member(&team, account)?;
    let allowed = authorise(state, who, &team, Some(target.role), None, Some(account)).await?;
    let removed = event(
        state,
        EventKind::TeamMemberRemoved,
        Some(who.session.account_id),
        client,
        json!({"team_id": id, "account_id": account, "role": target.role.as_str()}),
    );
    let change = team_writes::remove(id, account, target.role);
    match commit_change(state, who, allowed, id, change, removed.write()).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(refused(target.role)),
    }
}

/// What deleting an account does to its teams, as writes to commit before the account goes:
/// per team, its lock, a guard that the team keeps an owner once the account leaves (or keeps
/// nobody), and the team's deletion if the account was alone in it. A failed guard means the
/// account is the last owner of a team with others (`last_owner`: hand it over first).
pub async fn leave_all(state: &AppState, account: AccountId) -> ApiResult<Vec<Write>> {
    let teams = state.store.teams_of(account).await?;
    let mut writes = Vec::new();
    for team in &teams {
        writes.extend(state.store.lock_bucket(&format!("team:{}", team.id)));
    }
    for team in &teams {
        writes.push(team_writes::survives_leaving(team.id, account));
        writes.push(team_writes::delete_if_alone(team.id, account));
    }
    Ok(writes)
}
