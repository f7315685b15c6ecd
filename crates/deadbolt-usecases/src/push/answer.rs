//! The approver's answer: approve with the number the requesting screen shows (one try), or
//! "this wasn't me".

use super::approver;
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use crate::sessions::account_for;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::ApprovalId;
use deadbolt_core::mfa::{authenticator_gate, AuthenticatorGate};
use deadbolt_core::push::{signed_message, Decision, MatchNumber};
use deadbolt_store::{
    method_writes, push_writes, throttle_writes, ApprovalState, BatchOutcome, SealedMessage, Write,
};
use serde_json::json;

/// An approver's answer as received.
pub struct Answer {
    pub decision: Decision,
    /// The number the approver picked (required to approve).
    pub number: Option<String>,
    /// base64url Ed25519 signature, required when the approver registered a key.
    pub signature: Option<String>,
}

/// Answers a pending request of a push method whose approver is the caller's session. Anyone
/// else (another session of the account included) finds nothing (`not_found`). A wrong number
/// denies the request and counts as a failure of the authenticator and of the account's
/// second factor (`invalid_code`); "this wasn't me" denies it, tells the account's owner, and
/// pauses push requests for the account.
pub async fn answer(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: ApprovalId,
    input: Answer,
) -> DomainResult<()> {
    let now = ctx.clock.now();
    let approval = ctx
        .store
        .approval(id)
        .await?
        .filter(|a| a.account_id == who.session.account_id)
        .ok_or(DomainError::NotFound)?;
    let push = ctx
        .store
        .push_method(approval.method_id)
        .await?
        .filter(|p| p.session_id == who.session.id)
        .ok_or(DomainError::NotFound)?;
    // answered once, and only while it waits; "this wasn't me" is heard even once the time
    // ran out (the likeliest moment for someone bombed with prompts to answer)
    let waiting = approval.state == ApprovalState::Pending && now < approval.expires_at;
    let late_denial = input.decision == Decision::Deny
        && matches!(
            approval.state,
            ApprovalState::Pending | ApprovalState::Expired
        )
        && now >= approval.expires_at;
    if !waiting && !late_denial {
        return Err(DomainError::NotFound);
    }
    approver(ctx, push.method_id).await?;
    let account = account_for(ctx, who.into()).await?;
    let method = ctx
        .store
        .methods_of(account.id)
        .await?
        .into_iter()
        .find(|m| m.id == approval.method_id)
        .ok_or(DomainError::NotFound)?;
    let limits = ctx.policy.get().lockout;
    if let AuthenticatorGate::Disabled = authenticator_gate(
        method.consecutive_failures,
        method.last_failure_at,
        limits.authenticator_max_failures,
        now,
    ) {
        return Err(DomainError::AuthenticatorDisabled);
    }
    let typed = input.number.as_deref().unwrap_or("").trim().to_owned();
    if let Some(key) = &push.public_key {
        let message = signed_message(&id.to_string(), &typed, input.decision);
        if !signature_verifies(key, &message, input.signature.as_deref()) {
            return Err(DomainError::InvalidCredential(
                "`signature` must be the approver key's Ed25519 signature (base64url) of \
                 deadbolt-approval:{approval_id}:{number}:{decision}"
                    .into(),
            ));
        }
    }
    let bound = push.public_key.is_some();
    let detail = |reason: Option<&str>| json!({"approval_id": id, "method_id": method.id, "purpose": approval.purpose, "reason": reason});
    let (writes, answer): (Vec<Write>, DomainResult<()>) = match input.decision {
        Decision::Approve => {
            if typed.is_empty() {
                return Err(DomainError::InvalidRequest(
                    "`number` is required to approve".into(),
                ));
            }
            let right =
                MatchNumber::from_stored(approval.number).is_some_and(|n| n.matches(&typed));
            if right {
                let approved = event(
                    ctx,
                    EventKind::PushApproved,
                    Some(account.id),
                    client,
                    detail(None),
                );
                (
                    vec![
                        push_writes::decide(id, true, None, bound, now),
                        approved.write(),
                    ],
                    Ok(()),
                )
            } else {
                // no second guess: the request is denied, and the miss counts where a wrong
                // code counts (the authenticator's run, the account's second-factor bucket)
                let (key, _) = crate::factor_buckets::failure_bucket(ctx, &account, method.kind);
                let denied = event(
                    ctx,
                    EventKind::PushDenied,
                    Some(account.id),
                    client,
                    detail(Some("wrong_number")),
                );
                (
                    vec![
                        push_writes::decide(id, false, Some("wrong_number"), bound, now),
                        method_writes::guess_failed(
                            method.id,
                            now,
                            limits.authenticator_max_failures,
                        ),
                        throttle_writes::count(&key, now),
                        denied.write(),
                    ],
                    Err(DomainError::InvalidCode),
                )
            }
        }
        Decision::Deny => {
            let denied = event(
                ctx,
                EventKind::PushDenied,
                Some(account.id),
                client,
                detail(Some("user_denied")),
            );
            let decided = match late_denial {
                true => push_writes::deny_late(id, now),
                false => push_writes::decide(id, false, Some("user_denied"), bound, now),
            };
            let mut writes = vec![decided, denied.write()];
            // told with where the request came from, not where the approver answered it
            let requester = ClientInfo {
                ip: approval.ip.as_deref().and_then(|ip| ip.parse().ok()),
                user_agent: None,
            };
            if let Some(mail) = notice(ctx, &account, Notice::PushDenied, &requester)? {
                writes.push(SealedMessage::write(&mail));
            }
            (writes, Ok(()))
        }
    };
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => answer,
        // answered meanwhile by a parallel call, or expired
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

fn signature_verifies(key: &[u8], message: &[u8], signature: Option<&str>) -> bool {
    let Ok(key) = <[u8; 32]>::try_from(key) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
        return false;
    };
    let Some(bytes) = signature.and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
    else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify_strict(message, &signature).is_ok()
}
