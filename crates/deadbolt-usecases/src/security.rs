//! Changing the password and deleting the account: both always need a step-up.

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use crate::stepup;
use deadbolt_core::event::EventKind;
use deadbolt_core::password::check_strength_for;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_store::{
    end_challenges, revoke_all_devices, revoke_other_sessions, ApiKeyRecord, BatchOutcome,
};
use serde_json::json;

/// Changes the password (step-up `password.change`), then signs out every other session, forgets
/// every trusted device, ends every pending sign-in and reset, and, when asked, revokes every
/// API key.
pub async fn change_password(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    current: Secret,
    new: Secret,
    revoke_api_keys: bool,
) -> DomainResult<()> {
    let account = crate::sessions::account_of(ctx, who).await?;
    check_strength_for(&new, ctx.passwords.params(), &account.email)?;
    // Wrong current passwords count in the step-up password bucket: a hijacked session must not
    // get an unthrottled way to guess the password.
    if !stepup::check_password(ctx, &account, current).await? {
        return Err(DomainError::InvalidCredentials);
    }
    let grant = stepup::require(ctx, who, Action::PASSWORD_CHANGE).await?;
    let hasher = ctx.passwords.clone();
    let rng = ctx.rng.clone();
    let hash = ctx
        .hash_pool
        .run(move || hasher.hash(&new, rng.as_ref()))
        .await?
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("argon2: {e}")))?;
    let now = ctx.clock.now();
    let mut writes = vec![
        ctx.store.set_password(account.id, &hash),
        revoke_other_sessions(account.id, Some(who.session.id), now),
        revoke_all_devices(account.id, now),
        // sign-ins and resets begun with the old password end with it
        end_challenges(account.id, now),
        event(
            ctx,
            EventKind::PasswordChanged,
            Some(account.id),
            client,
            json!({"api_keys_revoked": revoke_api_keys}),
        )
        .write(),
    ];
    writes.extend(notice(ctx, &account, Notice::PasswordChanged, client)?.map(|m| m.write()));
    // what applications got from any session, a thief's included, ends with the old password:
    // they sign the person in again (silently, where this session still serves)
    writes.extend(deadbolt_store::OidcGrantRecord::revoke_account(
        account.id, now,
    ));
    // a password changed because it leaked may have let someone make keys, which outlive it
    if revoke_api_keys {
        writes.push(ApiKeyRecord::revoke_all(account.id, now));
    }
    stepup::commit_with(ctx, Some(grant), writes).await?;
    Ok(())
}

/// Deletes the account (step-up `account.delete`): sessions, factors, codes and devices go in one
/// transaction; the security events stay, and hold no secrets.
pub async fn delete_account(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
) -> DomainResult<()> {
    let account = crate::sessions::account_of(ctx, who).await?;
    let team_writes = crate::teams::leave_all(ctx, account.id).await?;
    let grant = stepup::require(ctx, who, Action::ACCOUNT_DELETE).await?;
    // the teams' guards run first, while the account's memberships are still there
    let mut writes = team_writes;
    writes.extend([event(
        ctx,
        EventKind::AccountDeleted,
        Some(account.id),
        client,
        json!({}),
    )
    .write()]);
    writes.extend(notice(ctx, &account, Notice::AccountDeleted, client)?.map(|m| m.write()));
    // last: its guard's index tells a deletion made meanwhile
    writes.push(ctx.store.delete_account(account.id));
    let deletion = writes.len() - 1;
    match stepup::commit_with(ctx, Some(grant), writes).await? {
        BatchOutcome::Committed => {}
        // deleted meanwhile by a parallel request
        BatchOutcome::GuardFailed(i) if i == deletion => return Err(DomainError::InvalidToken),
        // a team guard: the account is the last owner of a team with others
        BatchOutcome::GuardFailed(_) => return Err(DomainError::LastOwner),
    }
    Ok(())
}
