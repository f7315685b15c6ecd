//! Password reset. A reset never bypasses MFA (OWASP ASVS 5.0, 6.4.3): the emailed code proves
//! the mailbox, and an account with MFA must also pass a second factor other than that email.

use crate::challenge::{self, Answering, Purpose};
use crate::client::ClientInfo;
use crate::codes::{self, CodeFor, Destination, Recipient};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factors::{self, FactorInput};
use crate::methods;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_core::code::CodePurpose;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::password::check_strength_for;
use deadbolt_core::secret::Secret;
use deadbolt_store::{
    end_challenges, revoke_all_devices, revoke_other_sessions, ApiKeyRecord, BatchOutcome,
    MethodRecord, Write,
};
use serde_json::json;

/// Sends a reset code to the account's email. Unknown or throttled: the same silence, after the
/// same work (see `codes::send_or_stand_in`), so the answer tells nothing, nor does its time. An
/// unverified address gets one too: completing the reset proves the mailbox, which is how an
/// address's real owner claims an account someone else signed up with.
pub async fn start(ctx: &Context, client: &ClientInfo, email: &str) -> DomainResult<()> {
    codes::answered_after_floor(start_now(ctx, client, email)).await
}

async fn start_now(ctx: &Context, client: &ClientInfo, email: &str) -> DomainResult<()> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let account = ctx.store.account_by_email(&email).await?;
    // an identity provider's account has no password here to reset
    let to = match &account {
        Some(a) if a.sso_provider.is_none() => Recipient::Account(a, Destination::email(a)),
        _ => Recipient::Nobody(&email),
    };
    let requested = |account: &deadbolt_core::account::Account| {
        vec![event(
            ctx,
            EventKind::PasswordResetRequested,
            Some(account.id),
            client,
            json!({}),
        )]
    };
    codes::send_or_stand_in(
        ctx,
        client,
        to,
        &CodeFor::account(CodePurpose::ResetPassword),
        requested,
    )
    .await?;
    Ok(())
}

pub struct ResetStarted {
    pub reset_token: Secret,
    pub expires_in: i64,
    pub mfa_required: bool,
    pub methods: Vec<MethodRecord>,
}

/// Trades the emailed code for a short-lived reset token, good for nothing else.
pub async fn verify(
    ctx: &Context,
    client: &ClientInfo,
    email: &str,
    code: &Secret,
) -> DomainResult<ResetStarted> {
    let email = Email::parse(email).map_err(|_| DomainError::InvalidCode)?;
    let Some(account) = ctx.store.account_by_email(&email).await? else {
        return Err(codes::unknown_account_try(ctx, &email).await);
    };
    let stored = codes::check(
        ctx,
        client,
        &account,
        &CodeFor::account(CodePurpose::ResetPassword),
        code,
    )
    .await?;
    let (reset_token, challenge) = challenge::open(ctx, &account, Purpose::Reset, None);
    let now = ctx.clock.now();
    match ctx
        .commit(vec![stored.consume(now), challenge.insert()])
        .await?
    {
        BatchOutcome::Committed => {}
        BatchOutcome::GuardFailed(_) => return Err(DomainError::InvalidCode),
    }
    let all = ctx.store.methods_of(account.id).await?;
    Ok(ResetStarted {
        reset_token,
        expires_in: ctx.policy.get().lockout.token_ttl_seconds,
        mfa_required: methods::is_enabled(&all),
        methods: Purpose::Reset.choices(ctx, &account, all),
    })
}

/// Sets the new password; then every session and trusted device is revoked and the user told.
pub async fn complete(
    ctx: &Context,
    client: &ClientInfo,
    token: &Secret,
    new_password: Secret,
    factor: Option<FactorInput>,
) -> DomainResult<()> {
    let pending = challenge::pending(ctx, token, Answering::Reset).await?;
    let account = pending.account();
    check_strength_for(&new_password, ctx.passwords.params(), &account.email)?;
    let has_mfa = methods::is_enabled(&ctx.store.methods_of(account.id).await?);
    // check the factor before the (slow) hashing, and refuse a reset that skips it
    let proof = match (has_mfa, factor) {
        (true, Some(f)) => Some(factors::check(ctx, client, &pending, f).await?),
        (true, None) => {
            return Err(DomainError::InvalidRequest(
                "this account has MFA: a second factor (an authenticator code or a recovery code) is required".into(),
            ))
        }
        (false, _) => None,
    };
    let hasher = ctx.passwords.clone();
    let rng = ctx.rng.clone();
    let hash = ctx
        .hash_pool
        .run(move || hasher.hash(&new_password, rng.as_ref()))
        .await?
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("argon2: {e}")))?;
    let now = ctx.clock.now();
    let mut writes: Vec<Write> = vec![
        ctx.store.set_password(account.id, &hash),
        revoke_other_sessions(account.id, None, now),
        revoke_all_devices(account.id, now),
        ApiKeyRecord::revoke_all(account.id, now),
        // sign-ins and resets begun with the old password end here (this reset's own challenge
        // is spent first, in the same transaction)
        end_challenges(account.id, now),
        event(
            ctx,
            EventKind::PasswordReset,
            Some(account.id),
            client,
            json!({"second_factor": has_mfa}),
        )
        .write(),
    ];
    writes.extend(notice(ctx, account, Notice::PasswordChanged, client)?.map(|m| m.write()));
    // the code that started this reset reached the mailbox: the address is proven, and a
    // phone proven by whoever signed up with it before is theirs, not this owner's
    if !account.email_verified {
        writes.push(ctx.store.set_email(account.id, &account.email));
        writes.push(ctx.store.unverify_phone(account.id));
    }
    match proof {
        Some(proof) => factors::finish(ctx, client, &pending, proof, writes).await?,
        None => {
            let mut all = vec![pending
                .record()
                .consume(now, ctx.policy.get().lockout.token_max_failures)];
            all.extend(writes);
            if let BatchOutcome::GuardFailed(_) = ctx.commit(all).await? {
                return Err(DomainError::MfaTokenInvalid);
            }
        }
    }
    Ok(())
}
