//! An account's second-factor methods: enrolment, confirmation, the primary method, removal,
//! recovery codes, and turning MFA off.

mod enrol;
mod push;
mod recovery_codes;

pub use enrol::{
    confirm, enroll_sent_code, enroll_totp, enroll_webauthn, resend_enrolment_code, CodeEnrollment,
    Confirmation, Confirmed, TotpEnrollment, WebauthnEnrollment,
};
pub use push::{enroll_push, PushEnrollment};
pub use recovery_codes::regenerate_recovery_codes;

use crate::client::{Actor, ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::methods;
use crate::notice::Notice;
use crate::notify::notice;
use crate::sessions::{account_for, account_of};
use crate::stepup;
use deadbolt_core::account::Account;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, MethodId};
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::stepup::Action;
use deadbolt_store::{
    method_writes, revoke_all_devices, BatchOutcome, EventRecord, MethodRecord, SealedMessage,
    Write,
};
use serde_json::json;

pub struct Overview {
    pub enabled: bool,
    pub methods: Vec<MethodRecord>,
    pub recovery_codes_remaining: i64,
}

pub async fn overview(ctx: &Context, account: AccountId) -> DomainResult<Overview> {
    let all = ctx.store.methods_of(account).await?;
    let enabled = methods::is_enabled(&all);
    let mut methods: Vec<MethodRecord> = all
        .into_iter()
        .filter(|m| m.confirmed_at.is_some())
        .collect();
    methods.sort_by_key(|m| (!m.is_primary, m.kind.is_fallback_only(), m.created_at));
    let recovery_codes_remaining = ctx.store.recovery_codes_remaining(account).await?;
    Ok(Overview {
        enabled,
        methods,
        recovery_codes_remaining,
    })
}

/// Whether MFA is on for an account (see [`challenge::is_enabled`]).
pub async fn is_on(ctx: &Context, account: AccountId) -> DomainResult<bool> {
    Ok(methods::is_enabled(&ctx.store.methods_of(account).await?))
}

/// Whether policy requires `account` to have a second factor (enforcement and
/// `required_for_roles`). An identity provider's account is not asked here; a subject always is.
pub fn required_by_policy(ctx: &Context, account: &Account) -> bool {
    // a client sends its people here for a second factor: every subject needs one
    account.subject_of.is_some()
        || (account.sso_provider.is_none() && ctx.policy.get().requires_mfa(&account.roles))
}

/// What users are told when they choose a restricted authenticator.
pub const RESTRICTED_NOTICE: &str = "SMS and voice codes are a restricted authenticator \
    (NIST SP 800-63B): a phone number can be taken over and messages intercepted. Prefer an \
    authenticator app or a security key, and keep this as a fallback.";

pub async fn set_primary(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    id: MethodId,
) -> DomainResult<()> {
    let account = who.into().account_id();
    let mut writes = method_writes::set_primary(account, id);
    writes.push(
        event(
            ctx,
            EventKind::PrimaryMethodChanged,
            Some(account),
            client,
            json!({"method_id": id}),
        )
        .write(),
    );
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::InvalidRequest(
            "method_id must name a confirmed, enabled method other than recovery codes".into(),
        )),
    }
}

/// The lock every change of whether MFA is on takes first (PostgreSQL; SQLite has one writer):
/// a confirmation, a removal, turning it off, an administrator's reset.
pub(crate) fn mfa_bucket(account: AccountId) -> String {
    format!("mfa:{account}")
}

/// The writes that turn MFA off: every method and recovery code gone, trusted devices revoked.
pub(crate) fn mfa_off_writes(ctx: &Context, account: AccountId) -> Vec<Write> {
    vec![
        method_writes::delete_recovery_codes(account),
        method_writes::delete_all_methods(account),
        revoke_all_devices(account, ctx.clock.now()),
    ]
}

/// Removes a method (step-up `mfa.manage`). Removing the last one turns MFA off, exactly once:
/// each removal is guarded on what it was decided on (another method kept, none left, the
/// method still pending) and is decided again once if a parallel change made that untrue.
pub async fn remove(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    id: MethodId,
) -> DomainResult<()> {
    let who = who.into();
    match remove_once(ctx, client, who, id).await? {
        Removal::Done => Ok(()),
        Removal::Changed => match remove_once(ctx, client, who, id).await? {
            Removal::Done => Ok(()),
            // the method list changed twice under this one request: let the user try again
            Removal::Changed => Err(DomainError::Unavailable),
        },
    }
}

enum Removal {
    Done,
    /// A parallel change (a removal, a confirmation) made untrue what this one was decided on.
    Changed,
}

async fn remove_once(
    ctx: &Context,
    client: &ClientInfo,
    who: Actor<'_>,
    id: MethodId,
) -> DomainResult<Removal> {
    let account = account_for(ctx, who).await?;
    let methods = ctx.store.methods_of(account.id).await?;
    let method = methods
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or(DomainError::NotFound)?;
    if method.kind == MethodKind::RecoveryCode {
        return Err(DomainError::InvalidRequest(
            "recovery codes go with MFA: regenerate them, or disable MFA".into(),
        ));
    }
    let remaining: Vec<&MethodRecord> = methods
        .iter()
        .filter(|m| m.id != id && m.confirmed_at.is_some() && !m.kind.is_fallback_only())
        .collect();
    if remaining.is_empty() && method.confirmed_at.is_some() && required_by_policy(ctx, &account) {
        return Err(DomainError::PolicyRequiresMfa);
    }
    let grant = stepup::require_for(ctx, who, Action::MFA_MANAGE).await?;
    let turns_mfa_off = remaining.is_empty() && method.confirmed_at.is_some();
    let mut writes: Vec<Write> = ctx
        .store
        .lock_bucket(&mfa_bucket(account.id))
        .into_iter()
        .collect();
    let delete_at = writes.len();
    writes.push(if method.confirmed_at.is_none() {
        method_writes::delete_pending_method(account.id, id)
    } else if turns_mfa_off {
        method_writes::delete_last_method(account.id, id)
    } else {
        method_writes::delete_method_keeping_another(account.id, id)
    });
    let mut events = vec![event(
        ctx,
        EventKind::MfaMethodRemoved,
        Some(account.id),
        client,
        json!({"method_id": id, "type": method.kind.as_str()}),
    )];
    let mut mails: Vec<_> = notice(ctx, &account, Notice::MethodRemoved, client)?
        .into_iter()
        .collect();
    if turns_mfa_off {
        writes.extend(mfa_off_writes(ctx, account.id));
        events.push(event(
            ctx,
            EventKind::MfaDisabled,
            Some(account.id),
            client,
            json!({"reason": "last_method_removed"}),
        ));
        mails.extend(notice(ctx, &account, Notice::MfaDisabled, client)?);
    } else if method.is_primary {
        if let Some(next) = remaining.first() {
            writes.extend(method_writes::set_primary(account.id, next.id));
        }
    }
    writes.extend(events.iter().map(EventRecord::write));
    writes.extend(mails.iter().map(SealedMessage::write));
    match stepup::commit_with(ctx, grant, writes).await? {
        BatchOutcome::Committed => Ok(Removal::Done),
        BatchOutcome::GuardFailed(i)
            if i == delete_at
                && ctx
                    .store
                    .methods_of(account.id)
                    .await?
                    .iter()
                    .any(|m| m.id == id) =>
        {
            Ok(Removal::Changed)
        }
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

/// Turns MFA off (step-up `mfa.manage`).
pub async fn disable(ctx: &Context, client: &ClientInfo, who: &Principal) -> DomainResult<()> {
    let account = account_of(ctx, who).await?;
    let methods = ctx.store.methods_of(account.id).await?;
    if !methods::is_enabled(&methods) {
        return Ok(());
    }
    if required_by_policy(ctx, &account) {
        return Err(DomainError::PolicyRequiresMfa);
    }
    let grant = stepup::require(ctx, who, Action::MFA_MANAGE).await?;
    // guarded on MFA still being on: of parallel ways of turning it off, one alone does it
    let mut writes: Vec<Write> = ctx
        .store
        .lock_bucket(&mfa_bucket(account.id))
        .into_iter()
        .collect();
    writes.push(method_writes::delete_confirmed_factors(account.id));
    writes.extend(mfa_off_writes(ctx, account.id));
    writes.push(
        event(
            ctx,
            EventKind::MfaDisabled,
            Some(account.id),
            client,
            json!({"reason": "disabled_by_user"}),
        )
        .write(),
    );
    writes.extend(notice(ctx, &account, Notice::MfaDisabled, client)?.map(|m| m.write()));
    // a guard that failed means a parallel request turned it off first: it is off, as asked
    stepup::commit_with(ctx, Some(grant), writes).await?;
    Ok(())
}
