//! A wrong second factor: counted against the challenge, the account's bucket and the method,
//! recorded, and told to the user when it locks the account.

use crate::challenge::{self};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_core::account::Account;
use deadbolt_core::event::EventKind;
use deadbolt_core::throttle::ThrottlePolicy;
use deadbolt_store::{
    method_writes, throttle_writes, BatchOutcome, ChallengeRecord, EventRecord, MethodRecord,
    SealedMessage, Write,
};
use serde_json::json;

/// A wrong second factor: what was tried, and what else the failure writes.
pub(super) struct Miss<'a> {
    pub method: &'a MethodRecord,
    pub bucket: &'a (String, ThrottlePolicy),
    /// A right code used twice (see `count_failure`).
    pub replay: bool,
    pub extra: Vec<Write>,
}

/// Counts a wrong code everywhere it counts, records and tells what must be told, and answers.
pub(super) async fn fail(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    challenge: &ChallengeRecord,
    miss: Miss<'_>,
) -> DomainError {
    match count_failure(ctx, client, account, challenge, miss).await {
        Ok(e) | Err(e) => e,
    }
}

async fn count_failure(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    challenge: &ChallengeRecord,
    miss: Miss<'_>,
) -> DomainResult<DomainError> {
    let Miss {
        method,
        bucket: (key, policy),
        replay,
        extra,
    } = miss;
    let now = ctx.clock.now();
    let limits = ctx.policy.get().lockout;
    let cap = limits.authenticator_max_failures;
    // Counted only while the account is under its limit, in one transaction serialised per
    // bucket: past the limit the attempt is refused as locked, and whether the code was right
    // is never told. A replay is a right code used twice: someone saw a code, nobody is
    // guessing the authenticator, so it does not count against the authenticator.
    let mut writes: Vec<Write> = ctx.store.lock_bucket(key).into_iter().collect();
    writes.push(throttle_writes::failure_within_limit(
        key,
        now,
        policy.window_start(now),
        policy.max_failures,
    ));
    writes.push(challenge.failed());
    if !replay {
        writes.push(method_writes::guess_failed(method.id, now, cap));
    }
    writes.extend(extra);
    if let BatchOutcome::GuardFailed(_) = ctx.commit(writes).await? {
        let retry_after = challenge::lock_wait(ctx, key, policy)
            .await?
            .unwrap_or(policy.window.whole_seconds());
        return Ok(DomainError::MfaLocked { retry_after });
    }
    let failures = challenge.failures.saturating_add(1);
    let run = if replay {
        method.consecutive_failures
    } else {
        method.consecutive_failures.saturating_add(1)
    };
    let detail = json!({"method_id": method.id, "type": method.kind.as_str(), "purpose": challenge.purpose, "replay": replay});
    let mut events = vec![event(
        ctx,
        EventKind::MfaChallengeFailed,
        Some(account.id),
        client,
        detail,
    )];
    let mut mails = Vec::new();
    if replay {
        events.push(event(
            ctx,
            EventKind::MfaReplayRefused,
            Some(account.id),
            client,
            json!({"method_id": method.id}),
        ));
        mails.extend(notice(ctx, account, Notice::ReplayRefused, client)?);
    }
    if !replay && run == cap && method.disabled_at.is_none() {
        events.push(event(
            ctx,
            EventKind::AuthenticatorDisabled,
            Some(account.id),
            client,
            json!({"method_id": method.id}),
        ));
        mails.extend(notice(ctx, account, Notice::AuthenticatorDisabled, client)?);
    }
    let seen = ctx
        .store
        .failure_window(key, policy.window_start(now))
        .await?;
    if seen.count == policy.max_failures {
        // this failure closed the lock: record it and tell the user, once
        events.push(event(
            ctx,
            EventKind::MfaLocked,
            Some(account.id),
            client,
            json!({"bucket": key.split(':').nth(1)}),
        ));
        mails.extend(notice(ctx, account, Notice::Locked, client)?);
    }
    let mut writes: Vec<Write> = events.iter().map(EventRecord::write).collect();
    writes.extend(mails.iter().map(SealedMessage::write));
    ctx.commit(writes).await?;
    Ok(DomainError::WrongSecondFactor {
        attempts_remaining: limits.token_max_failures.saturating_sub(failures),
    })
}
