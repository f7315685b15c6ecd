//! Usernameless sign-in with a passkey: `/v1/login/passkey/start` hands out request options,
//! `/finish` verifies the assertion. The credential names the account; a passkey verified with
//! user verification is two factors alone (`amr` hwk/swk + user + mfa, `acr` aal2). The
//! account's second-factor lockout and the authenticator's failure run apply as to any factor.

use crate::attempts::{self, Bucket};
use crate::challenge;
use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factor_policy;
use crate::sessions::{self, IssuedTokens};
use crate::webauthn::{self, Refused};
use crate::{devices, risk};
use deadbolt_core::auth;
use deadbolt_core::event::EventKind;
use deadbolt_core::mfa::{authenticator_gate, AuthenticatorGate, MethodKind};
use deadbolt_core::risk::RiskResponse;
use deadbolt_core::throttle::{retry_after_seconds, ThrottlePolicy};
use deadbolt_core::CoreError;
use deadbolt_store::{method_writes, throttle_writes, BatchOutcome, EventRecord, Write};
use serde_json::json;

/// Anyone may call it and each call stores a ceremony, so starts are counted per client
/// address (`[limits] passkey_starts_per_ip_per_minute`); past the limit nothing is stored. A
/// flood from many addresses meets the instance's gate (`passkey_starts_in_flight`) first.
pub async fn start(
    ctx: &Context,
    client: &ClientInfo,
) -> DomainResult<(uuid::Uuid, serde_json::Value)> {
    let _place = ctx.passkey_starts.enter()?;
    factor_policy::ensure_allowed(ctx, MethodKind::WebAuthn)?;
    if let Some(ip) = client.ip {
        let bucket = Bucket {
            key: format!("passkey:start:ip:{ip}"),
            policy: ThrottlePolicy {
                max_failures: ctx.config.limits.passkey_starts_per_ip_per_minute,
                window: time::Duration::MINUTE,
            },
        };
        match attempts::reserve(ctx, vec![bucket]).await? {
            Ok(counted) => counted.keep(),
            Err(full) => {
                return Err(DomainError::TooManyAttempts {
                    retry_after: full.retry_after,
                })
            }
        }
    }
    webauthn::start_passkey(ctx).await
}

pub async fn finish(
    ctx: &Context,
    client: &ClientInfo,
    challenge_id: uuid::Uuid,
    credential: &serde_json::Value,
) -> DomainResult<IssuedTokens> {
    factor_policy::ensure_allowed(ctx, MethodKind::WebAuthn)?;
    let found = webauthn::passkey_assertion(ctx, challenge_id, credential).await?;
    let account = ctx
        .store
        .account_by_id(found.record.account_id)
        .await?
        // a client's subject signs in only through its client: its passkey is a second factor
        // there, never a way into Deadbolt's own sign-in (answered as an unknown passkey)
        .filter(|a| a.subject_of.is_none())
        .ok_or(DomainError::UnknownCredential)?;
    if account.sso_provider.is_some() {
        return Err(DomainError::SsoRequired);
    }
    let method = ctx
        .store
        .methods_of(account.id)
        .await?
        .into_iter()
        .find(|m| m.id == found.record.method_id && m.confirmed_at.is_some())
        .ok_or(DomainError::UnknownCredential)?;
    let now = ctx.clock.now();
    let (key, policy) = challenge::failure_bucket(ctx, &account, MethodKind::WebAuthn);
    let seen = ctx
        .store
        .failure_window(&key, policy.window_start(now))
        .await?;
    if let Err(CoreError::Throttled(wait)) = policy.check(seen, now) {
        return Err(DomainError::MfaLocked {
            retry_after: retry_after_seconds(wait),
        });
    }
    match authenticator_gate(
        method.consecutive_failures,
        method.last_failure_at,
        ctx.policy.get().lockout.authenticator_max_failures,
        now,
    ) {
        AuthenticatorGate::Open => {}
        AuthenticatorGate::Wait(wait) => {
            return Err(DomainError::TooManyAttempts {
                retry_after: retry_after_seconds(wait),
            })
        }
        AuthenticatorGate::Disabled => return Err(DomainError::AuthenticatorDisabled),
    }
    let verified = match webauthn::check_passkey(ctx, client, &account, found).await? {
        Ok(v) => v,
        Err(refused) => {
            return Err(count_failure(ctx, client, &account, &method, &key, &policy, refused).await)
        }
    };
    // verified: a passkey is two factors already; where the account may sign in from still holds, and
    // so does a risk rule that refuses outright
    let place = risk::place_of(ctx, client);
    risk::ensure_location_allowed(ctx, client, &account, &place).await?;
    let methods = [verified.auth];
    let (session, refresh, mut writes) = sessions::prepare(ctx, client, &account, &methods);
    let mut guarded: Vec<Write> = ctx.store.lock_bucket(&key).into_iter().collect();
    let first_guard = guarded.len();
    guarded.extend(verified.writes);
    let last_guard = guarded.len();
    guarded.push(method_writes::method_used(method.id, now));
    if seen.count > 0 {
        guarded.push(throttle_writes::clear_failures(&key));
    }
    let detail = json!({"amr": auth::amr(&methods), "method_id": method.id, "passkey": true});
    for e in [
        event(
            ctx,
            EventKind::PasskeyLoginSucceeded,
            Some(account.id),
            client,
            json!({"method_id": method.id}),
        ),
        event(
            ctx,
            EventKind::LoginSucceeded,
            Some(account.id),
            client,
            detail,
        ),
    ] {
        writes.push(e.write());
    }
    let device = devices::sign_in_device(ctx, client, &account).await;
    let assessment = risk::assess(ctx, &account, &place, device.is_known(), 0).await?;
    if assessment.response == RiskResponse::Refuse {
        return Err(risk::refuse(ctx, client, &account, &assessment).await?);
    }
    writes.extend(assessment.event(ctx, client, &account).map(|e| e.write()));
    writes.extend(device.writes(ctx, &account));
    writes.extend(risk::sign_in_writes(ctx, client, &account));
    guarded.extend(writes);
    match ctx.commit(guarded).await? {
        BatchOutcome::Committed => {}
        // the ceremony or the counter was spent by a concurrent request: a replay
        BatchOutcome::GuardFailed(i) if (first_guard..last_guard).contains(&i) => {
            let refused = Refused { writes: vec![] };
            return Err(
                count_failure(ctx, client, &account, &method, &key, &policy, refused).await,
            );
        }
        BatchOutcome::GuardFailed(_) => {
            return Err(DomainError::Internal(anyhow::anyhow!(
                "a passkey sign-in write found nothing to change"
            )))
        }
    }
    device.tell_if_new(ctx, client, &account).await;
    ctx.metrics.login("success");
    sessions::issue(ctx, &session, refresh, session.created_at)
}

/// Counts a refused passkey assertion against the account's second-factor bucket and the
/// authenticator, records it, and answers 401 `invalid_code` with the tries left before the
/// lock (or 429 `mfa_locked` once it closed).
async fn count_failure(
    ctx: &Context,
    client: &ClientInfo,
    account: &deadbolt_core::account::Account,
    method: &deadbolt_store::MethodRecord,
    key: &str,
    policy: &deadbolt_core::throttle::ThrottlePolicy,
    refused: Refused,
) -> DomainError {
    let now = ctx.clock.now();
    let cap = ctx.policy.get().lockout.authenticator_max_failures;
    let mut writes: Vec<Write> = ctx.store.lock_bucket(key).into_iter().collect();
    writes.push(throttle_writes::failure_within_limit(
        key,
        now,
        policy.window_start(now),
        policy.max_failures,
    ));
    writes.push(method_writes::guess_failed(method.id, now, cap));
    writes.extend(refused.writes);
    writes.push(
        event(
            ctx,
            EventKind::MfaChallengeFailed,
            Some(account.id),
            client,
            json!({"method_id": method.id, "type": "webauthn", "purpose": "passkey_login"}),
        )
        .write(),
    );
    let outcome = match ctx.commit(writes).await {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    if let BatchOutcome::GuardFailed(_) = outcome {
        return DomainError::MfaLocked {
            retry_after: policy.window.whole_seconds(),
        };
    }
    let seen = match ctx
        .store
        .failure_window(key, policy.window_start(now))
        .await
    {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    if seen.count >= policy.max_failures {
        let locked = event(
            ctx,
            EventKind::MfaLocked,
            Some(account.id),
            client,
            json!({"bucket": "account"}),
        );
        if let Err(e) = ctx.commit(vec![EventRecord::write(&locked)]).await {
            return e.into();
        }
    }
    DomainError::WrongSecondFactor {
        attempts_remaining: policy.max_failures.saturating_sub(seen.count),
    }
}
