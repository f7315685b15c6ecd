//! What operators may do, and who counts as one: an account with the `admin` role, signed in
//! with a second factor (an administrator's password alone must not open the admin surface).

use crate::accounts::{self, VouchedAccount};
use crate::challenge;
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::methods;
use crate::notice::Notice;
use crate::notify::notice;
use crate::sessions::account_of;
use crate::{login, mfa, stepup};
use deadbolt_core::account::{Account, Role};
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, MessageId};
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::stepup::Action;
use deadbolt_store::{
    end_challenges, method_writes, revoke_other_sessions, throttle_writes, ApiKeyRecord,
    DeadLetter, EventCursor, EventRecord,
};
use serde_json::json;
use time::OffsetDateTime;

/// The caller, if an administrator who signed in with two factors.
pub async fn require_admin(ctx: &Context, who: &Principal) -> DomainResult<Account> {
    let account = account_of(ctx, who).await?;
    if !account.has_role(Role::ADMIN) {
        return Err(DomainError::Forbidden("this needs the admin role"));
    }
    // signed in with two factors, one of them an enrolled method (an emailed check of an
    // account without MFA is two factors, but nothing an administrator can be held to)
    let enrolled = methods::is_enabled(&ctx.store.methods_of(account.id).await?);
    if !who.session.amr.iter().any(|v| v == "mfa") || !enrolled {
        return Err(DomainError::Forbidden(
            "administrators must sign in with a second factor",
        ));
    }
    Ok(account)
}

/// Messages the outbox gave up on, newest first.
pub async fn dead_letters(
    ctx: &Context,
    who: &Principal,
    before: Option<(OffsetDateTime, MessageId)>,
    limit: u32,
) -> DomainResult<Vec<DeadLetter>> {
    require_admin(ctx, who).await?;
    Ok(ctx.store.dead_letters(before, limit).await?)
}

/// Puts a dead message back in the queue for a fresh round of tries.
pub async fn retry_dead_letter(ctx: &Context, who: &Principal, id: MessageId) -> DomainResult<()> {
    require_admin(ctx, who).await?;
    if !ctx.store.retry_dead_letter(id, ctx.clock.now()).await? {
        return Err(DomainError::NotFound);
    }
    ctx.wake_outbox();
    Ok(())
}

/// Accounts whose email is `email` (exactly, once normalised).
pub async fn find_accounts(
    ctx: &Context,
    who: &Principal,
    email: &str,
) -> DomainResult<Vec<Account>> {
    require_admin(ctx, who).await?;
    let Ok(email) = Email::parse(email) else {
        return Ok(vec![]);
    };
    Ok(ctx
        .store
        .account_by_email(&email)
        .await?
        .into_iter()
        .collect())
}

pub async fn create_account(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    input: VouchedAccount,
) -> DomainResult<Account> {
    let admin = require_admin(ctx, who).await?;
    if input.roles.iter().any(|r| r == Role::ADMIN) {
        // spent before the account is made: a failure after it asks for a fresh step-up,
        // never lets one grant make two administrators
        let grant = stepup::require(ctx, who, Action::ADMIN_GRANT).await?;
        stepup::commit_with(ctx, Some(grant), vec![]).await?;
    }
    accounts::create_vouched(ctx, client, input, "admin", Some(admin.id)).await
}

async fn target(ctx: &Context, id: AccountId) -> DomainResult<Account> {
    ctx.store
        .account_by_id(id)
        .await?
        .ok_or(DomainError::NotFound)
}

/// Resets a user's MFA (step-up `admin.mfa_reset`): every method, recovery code and trusted
/// device goes, and so does everything that outlived the factors (every session with its
/// step-up grants, every API key, every pending challenge), as a password reset does: the
/// session that prompted the reset must not be the one to plant the next first factor. The
/// user is told by email.
pub async fn mfa_reset(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: AccountId,
) -> DomainResult<()> {
    let admin = require_admin(ctx, who).await?;
    let account = target(ctx, id).await?;
    // the grant names the account it was asked for: it cannot serve the next one named
    let target = account.id.to_string();
    let grant = stepup::require_on(ctx, who, Action::ADMIN_MFA_RESET, Some(&target)).await?;
    let now = ctx.clock.now();
    let mut writes: Vec<_> = ctx
        .store
        .lock_bucket(&mfa::mfa_bucket(account.id))
        .into_iter()
        .collect();
    writes.extend(mfa::mfa_off_writes(ctx, account.id));
    writes.extend([
        revoke_other_sessions(account.id, None, now),
        ApiKeyRecord::revoke_all(account.id, now),
        end_challenges(account.id, now),
    ]);
    writes.push(
        event(
            ctx,
            EventKind::MfaResetByAdmin,
            Some(account.id),
            client,
            json!({"admin_id": admin.id}),
        )
        .write(),
    );
    writes.extend(notice(ctx, &account, Notice::MfaReset, client)?.map(|m| m.write()));
    stepup::commit_with(ctx, Some(grant), writes).await?;
    Ok(())
}

/// Lifts a user's lockouts: the password and second-factor failure counts start afresh and the
/// authenticators' waits end (one disabled at its cap stays so until bound again).
pub async fn unlock(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: AccountId,
) -> DomainResult<()> {
    let admin = require_admin(ctx, who).await?;
    let account = target(ctx, id).await?;
    let mut buckets = vec![
        challenge::failure_bucket(ctx, &account, MethodKind::Totp).0,
        challenge::failure_bucket(ctx, &account, MethodKind::RecoveryCode).0,
    ];
    // a subject has no password here: the address its product states is not its to clear
    if account.subject_of.is_none() {
        buckets.push(login::email_bucket(ctx, account.email.as_str()));
    }
    let mut writes: Vec<_> = buckets
        .iter()
        .map(|b| throttle_writes::clear_failures(b))
        .collect();
    writes.push(method_writes::reset_failure_runs(account.id));
    writes.push(
        event(
            ctx,
            EventKind::AccountUnlocked,
            Some(account.id),
            client,
            json!({"admin_id": admin.id}),
        )
        .write(),
    );
    writes.extend(notice(ctx, &account, Notice::AccountUnlocked, client)?.map(|m| m.write()));
    ctx.commit(writes).await?;
    Ok(())
}

/// Every account's security events, newest first.
pub async fn events(
    ctx: &Context,
    who: &Principal,
    before: Option<EventCursor>,
    limit: u32,
) -> DomainResult<Vec<EventRecord>> {
    require_admin(ctx, who).await?;
    Ok(ctx.store.all_events(before, limit).await?)
}
