//! Teams: an account makes one and owns it; owners and admins manage the members under the
//! `team.manage` step-up (a 300-second sliding window by default); a team always keeps an owner.
//!
//! Nobody joins a team without saying yes: owners and admins invite an email address, and the
//! holder of that address, once it is verified, accepts or declines. An invitation answers the
//! same whether or not the address has an account, so inviting cannot tell who has one; only a
//! verified account hears of it by email (never a bare address: that would let anyone mail
//! anyone), at most once an hour.

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use crate::risk::quiet_for_an_hour;
use crate::stepup;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, InvitationId, TeamId};
use deadbolt_core::stepup::Action;
use deadbolt_core::team::{self, may_change, TeamRole};
use deadbolt_core::throttle::{retry_after_seconds, ThrottlePolicy};
use deadbolt_core::CoreError;
use deadbolt_store::{
    invitation_writes, team_writes, throttle_writes, BatchOutcome, InvitationRecord, MemberRecord,
    StoreError, TeamRecord, Write,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// How long an invitation waits for an answer.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// Invitations one account may send in [`INVITATION_WINDOW`]: enough for onboarding a team,
/// too few to fill the table or anyone's mailbox.
pub const INVITATIONS_PER_WINDOW: u32 = 50;
pub const INVITATION_WINDOW: Duration = Duration::HOUR;

pub struct Team {
    pub team: TeamRecord,
    pub members: Vec<MemberRecord>,
    /// Standing invitations, shown to the members as `invited`.
    pub invitations: Vec<InvitationRecord>,
}

pub async fn create(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    name: &str,
) -> DomainResult<TeamRecord> {
    let name = team::check_name(name)?;
    let now = ctx.clock.now();
    let record = TeamRecord {
        id: TeamId::generate(ctx.rng.as_ref()),
        name,
        created_at: now,
    };
    let owner = who.session.account_id;
    let created = event(
        ctx,
        EventKind::TeamCreated,
        Some(owner),
        client,
        json!({"team_id": record.id, "name": record.name}),
    );
    ctx.commit(vec![
        record.insert(),
        team_writes::add(record.id, owner, TeamRole::Owner, now),
        created.write(),
    ])
    .await?;
    Ok(record)
}

/// The caller's teams, each with its members.
pub async fn list(ctx: &Context, who: &Principal) -> DomainResult<Vec<Team>> {
    let mut out = Vec::new();
    let now = ctx.clock.now();
    for team in ctx.store.teams_of(who.session.account_id).await? {
        let members = ctx.store.members_of(team.id).await?;
        let invitations = ctx.store.invitations_of_team(team.id, now).await?;
        out.push(Team {
            team,
            members,
            invitations,
        });
    }
    Ok(out)
}

/// One of the caller's teams; a team the caller is not in does not exist for them.
pub async fn get(ctx: &Context, who: &Principal, id: TeamId) -> DomainResult<Team> {
    let team = ctx.store.team(id).await?.ok_or(DomainError::NotFound)?;
    let members = ctx.store.members_of(id).await?;
    if !members
        .iter()
        .any(|m| m.account_id == who.session.account_id)
    {
        return Err(DomainError::NotFound);
    }
    let invitations = ctx.store.invitations_of_team(id, ctx.clock.now()).await?;
    Ok(Team {
        team,
        members,
        invitations,
    })
}

/// A change the caller may make: their step-up grant and the role that allowed it.
struct Allowed {
    grant: stepup::GrantUse,
    /// None when leaving (anyone may leave).
    actor_role: Option<TeamRole>,
}

/// The caller's role in the team, which must allow the change; then the step-up.
async fn authorise(
    ctx: &Context,
    who: &Principal,
    team: &Team,
    from: Option<TeamRole>,
    to: Option<TeamRole>,
    target: Option<AccountId>,
) -> DomainResult<Allowed> {
    let me = who.session.account_id;
    let actor = team
        .members
        .iter()
        .find(|m| m.account_id == me)
        .map(|m| m.role)
        .ok_or(DomainError::NotFound)?;
    // leaving a team is everyone's right (the last owner's excepted, checked on write)
    let leaving = target == Some(me) && to.is_none();
    if !leaving && !may_change(actor, from, to) {
        return Err(DomainError::Forbidden(
            "only owners manage owners, and owners and admins manage members",
        ));
    }
    let grant = stepup::require(ctx, who, Action::TEAM_MANAGE).await?;
    Ok(Allowed {
        grant,
        actor_role: (!leaving).then_some(actor),
    })
}

/// Commits a membership change under the team's lock (PostgreSQL; SQLite has one writer), with
/// a guard that the caller still has the role the change was judged by: roles read before the
/// lock may have changed since.
async fn commit_change(
    ctx: &Context,
    who: &Principal,
    allowed: Allowed,
    team: TeamId,
    change: Write,
    recorded: Vec<Write>,
) -> DomainResult<BatchOutcome> {
    let mut writes: Vec<Write> = ctx
        .store
        .lock_bucket(&format!("team:{team}"))
        .into_iter()
        .collect();
    if let Some(role) = allowed.actor_role {
        writes.push(team_writes::holds(team, who.session.account_id, role));
    }
    writes.push(change);
    writes.extend(recorded);
    stepup::commit_with(ctx, Some(allowed.grant), writes).await
}

/// Why a guarded change found nothing to change: the team kept its last owner, or someone
/// changed it meanwhile.
fn refused(from: TeamRole) -> DomainError {
    if from == TeamRole::Owner {
        DomainError::LastOwner
    } else {
        DomainError::InvalidRequest("the team changed meanwhile: reload it and try again".into())
    }
}

/// An invitation as its sender sees it: the same for every address, known or not.
pub struct Invited {
    pub id: InvitationId,
    pub email: String,
    pub role: TeamRole,
    pub invited_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Invites `email` to the team as `role` (the caller's role must allow giving it). Inviting an
/// address again renews its invitation. A member's address is refused (`already_member`): the
/// caller sees the members anyway, so that tells nothing new.
pub async fn invite(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    email: &str,
    role: &str,
) -> DomainResult<Invited> {
    let role = TeamRole::parse(role)?;
    let team = get(ctx, who, id).await?;
    let allowed = authorise(ctx, who, &team, None, Some(role), None).await?;
    let email = Email::parse(email)?;
    if team.members.iter().any(|m| m.email == email.as_str()) {
        return Err(DomainError::AlreadyMember);
    }
    let me = who.session.account_id;
    let now = ctx.clock.now();
    let sent = format!("team_invitations:{me}");
    let policy = ThrottlePolicy {
        max_failures: INVITATIONS_PER_WINDOW,
        window: INVITATION_WINDOW,
    };
    let seen = ctx
        .store
        .failure_window(&sent, policy.window_start(now))
        .await?;
    if let Err(CoreError::Throttled(wait)) = policy.check(seen, now) {
        return Err(DomainError::TooManyAttempts {
            retry_after: retry_after_seconds(wait),
        });
    }
    let invited = Invited {
        id: InvitationId::generate(ctx.rng.as_ref()),
        email: email.as_str().to_owned(),
        role,
        invited_at: now,
        expires_at: now + INVITATION_TTL,
    };
    let recorded = event(
        ctx,
        EventKind::TeamMemberInvited,
        Some(me),
        client,
        json!({"team_id": id, "invitation_id": invited.id, "email": invited.email, "role": role.as_str()}),
    );
    let mut writes = vec![recorded.write(), throttle_writes::count(&sent, now)];
    // only an account that proved it holds the address hears of it, once an hour at most
    if let Some(account) = ctx.store.account_by_email(&email).await? {
        let quiet = format!("notice:team_invitation:{}", account.id);
        if account.email_verified && quiet_for_an_hour(ctx, &quiet).await? {
            writes
                .extend(notice(ctx, &account, Notice::TeamInvitation, client)?.map(|m| m.write()));
            writes.push(throttle_writes::count(&quiet, now));
        }
    }
    let change = invitation_writes::invite(
        invited.id,
        id,
        &invited.email,
        role,
        me,
        now,
        invited.expires_at,
    );
    match commit_change(ctx, who, allowed, id, change, writes).await? {
        BatchOutcome::Committed => Ok(invited),
        BatchOutcome::GuardFailed(_) => Err(refused(TeamRole::Member)),
    }
}

/// Withdraws one of the team's invitations (step-up `team.manage`; the caller's role must
/// allow giving the invited role).
pub async fn withdraw(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    invitation: InvitationId,
) -> DomainResult<()> {
    let team = get(ctx, who, id).await?;
    let target = team
        .invitations
        .iter()
        .find(|i| i.id == invitation)
        .cloned()
        .ok_or(DomainError::NotFound)?;
    let allowed = authorise(ctx, who, &team, None, Some(target.role), None).await?;
    let withdrawn = event(
        ctx,
        EventKind::TeamInvitationWithdrawn,
        Some(who.session.account_id),
        client,
        json!({"team_id": id, "invitation_id": invitation, "email": target.email, "role": target.role.as_str()}),
    );
    let change = invitation_writes::withdraw(id, invitation);
    match commit_change(ctx, who, allowed, id, change, vec![withdrawn.write()]).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

/// The caller's address, which must be verified: an invitation goes to whoever holds the
/// address, and an account made with someone else's address (pre-hijacking) must gain nothing,
/// nor be able to turn down what was meant for the address's owner.
async fn verified_address(ctx: &Context, who: &Principal) -> DomainResult<String> {
    let account = crate::sessions::account_of(ctx, who).await?;
    if !account.email_verified {
        return Err(DomainError::EmailUnverified);
    }
    Ok(account.email.as_str().to_owned())
}

/// The standing invitations addressed to the caller.
pub async fn invitations(ctx: &Context, who: &Principal) -> DomainResult<Vec<InvitationRecord>> {
    let email = verified_address(ctx, who).await?;
    Ok(ctx.store.invitations_for(&email, ctx.clock.now()).await?)
}

/// Accepts an invitation addressed to the caller: they join with the invited role.
pub async fn accept(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    invitation: InvitationId,
) -> DomainResult<Team> {
    let email = verified_address(ctx, who).await?;
    let now = ctx.clock.now();
    let found = ctx
        .store
        .invitation_for(invitation, &email, now)
        .await?
        .ok_or(DomainError::NotFound)?;
    let me = who.session.account_id;
    let team = found.team_id;
    if ctx
        .store
        .members_of(team)
        .await?
        .iter()
        .any(|m| m.account_id == me)
    {
        // nothing left to accept
        ctx.commit(vec![invitation_writes::drop_for(team, &email)])
            .await?;
        return Err(DomainError::AlreadyMember);
    }
    let accepted = event(
        ctx,
        EventKind::TeamInvitationAccepted,
        Some(me),
        client,
        json!({"team_id": team, "invitation_id": invitation, "role": found.role.as_str(), "invited_by": found.invited_by}),
    );
    let mut writes: Vec<Write> = ctx
        .store
        .lock_bucket(&format!("team:{team}"))
        .into_iter()
        .collect();
    writes.push(invitation_writes::take(invitation, &email, found.role, now));
    writes.push(team_writes::add(team, me, found.role, now));
    writes.push(accepted.write());
    match ctx.commit(writes).await {
        // withdrawn, renewed, expired or its inviter lost the right meanwhile
        Ok(BatchOutcome::GuardFailed(_)) => Err(DomainError::NotFound),
        Ok(BatchOutcome::Committed) => get(ctx, who, team).await,
        Err(StoreError::Conflict) => Err(DomainError::AlreadyMember),
        Err(e) => Err(e.into()),
    }
}

/// Declines an invitation addressed to the caller: it is gone.
pub async fn decline(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    invitation: InvitationId,
) -> DomainResult<()> {
    let email = verified_address(ctx, who).await?;
    let found = ctx
        .store
        .invitation_for(invitation, &email, ctx.clock.now())
        .await?
        .ok_or(DomainError::NotFound)?;
    let declined = event(
        ctx,
        EventKind::TeamInvitationDeclined,
        Some(who.session.account_id),
        client,
        json!({"team_id": found.team_id, "invitation_id": invitation, "role": found.role.as_str(), "invited_by": found.invited_by}),
    );
    match ctx
        .commit(vec![
            invitation_writes::decline(invitation, &email),
            declined.write(),
        ])
        .await?
    {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

/// The member `account` of the team, as the caller can see it.
fn member(team: &Team, account: AccountId) -> DomainResult<MemberRecord> {
    team.members
        .iter()
        .find(|m| m.account_id == account)
        .cloned()
        .ok_or(DomainError::NotFound)
}

pub async fn change_role(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    account: AccountId,
    role: &str,
) -> DomainResult<MemberRecord> {
    let role = TeamRole::parse(role)?;
    let team = get(ctx, who, id).await?;
    let target = member(&team, account)?;
    let allowed = authorise(
        ctx,
        who,
        &team,
        Some(target.role),
        Some(role),
        Some(account),
    )
    .await?;
    let changed = event(
        ctx,
        EventKind::TeamMemberChanged,
        Some(who.session.account_id),
        client,
        json!({"team_id": id, "account_id": account, "from": target.role.as_str(), "to": role.as_str()}),
    );
    let change = team_writes::set_role(id, account, target.role, role);
    match commit_change(ctx, who, allowed, id, change, vec![changed.write()]).await? {
        BatchOutcome::Committed => Ok(MemberRecord { role, ..target }),
        BatchOutcome::GuardFailed(_) => Err(refused(target.role)),
    }
}

pub async fn remove_member(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: TeamId,
    account: AccountId,
) -> DomainResult<()> {
    let team = get(ctx, who, id).await?;
    let target = member(&team, account)?;
    let allowed = authorise(ctx, who, &team, Some(target.role), None, Some(account)).await?;
    let removed = event(
        ctx,
        EventKind::TeamMemberRemoved,
        Some(who.session.account_id),
        client,
        json!({"team_id": id, "account_id": account, "role": target.role.as_str()}),
    );
    let change = team_writes::remove(id, account, target.role);
    match commit_change(ctx, who, allowed, id, change, vec![removed.write()]).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(refused(target.role)),
    }
}

/// What deleting an account does to its teams, as writes to commit before the account goes:
/// per team, its lock, a guard that the team keeps an owner once the account leaves (or keeps
/// nobody), and the team's deletion if the account was alone in it. A failed guard means the
/// account is the last owner of a team with others (`last_owner`: hand it over first).
pub async fn leave_all(ctx: &Context, account: AccountId) -> DomainResult<Vec<Write>> {
    let teams = ctx.store.teams_of(account).await?;
    let mut writes = Vec::new();
    for team in &teams {
        writes.extend(ctx.store.lock_bucket(&format!("team:{}", team.id)));
    }
    for team in &teams {
        writes.push(team_writes::survives_leaving(team.id, account));
        writes.push(team_writes::delete_if_alone(team.id, account));
    }
    Ok(writes)
}
