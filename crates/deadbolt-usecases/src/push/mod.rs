//! Push approval with number matching. The waiting side (a sign-in, a step-up) asks for a push
//! in the challenge's send step ([`request`]) and is shown a two-digit number; the approver (the
//! one session the push method names) lists the request ([`pending_for`]) and answers it with
//! that number ([`answer`]); the waiting side's verify then finds the approval approved and
//! spends it with its challenge (`factors::check`).
//!
//! Push bombing is bounded: one pending request per account (a unique index, so it holds
//! across instances and parallel sign-ins), a number of requests per window, a pause after
//! "this wasn't me", and the per-authenticator failure count for wrong numbers.

mod answer;

pub use answer::{answer, Answer};

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use deadbolt_core::account::Account;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{ApprovalId, MessageId, MethodId};
use deadbolt_core::push::{MatchNumber, APPROVAL_TTL};
use deadbolt_store::{
    push_writes, ApprovalRecord, ApprovalState, ChallengeRecord, MethodRecord, OutboxMessage,
    PushMethodRecord, StoreError,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// A push request made: the number to show on the requesting screen, and how long it waits.
pub struct PushSent {
    pub approval_id: ApprovalId,
    pub number: u8,
    pub expires_in: i64,
}

impl std::fmt::Debug for PushSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the number is what the approver must read off the requesting screen
        f.debug_struct("PushSent")
            .field("approval_id", &self.approval_id)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The AEAD associated data of a push method's gateway address: the method it belongs to.
pub fn push_token_aad(method: MethodId) -> Vec<u8> {
    format!("deadbolt/push-token/{method}").into_bytes()
}

fn seconds_until(at: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (at - now).whole_seconds().max(1)
}

fn sent(a: &ApprovalRecord, now: OffsetDateTime) -> DomainResult<PushSent> {
    let number = MatchNumber::from_stored(a.number)
        .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("stored push number")))?;
    Ok(PushSent {
        approval_id: a.id,
        number: number.value(),
        expires_in: seconds_until(a.expires_at, now),
    })
}

/// The account's pending request, answered again to the challenge that made it (a second
/// send is idempotent), and refused to any other: one prompt at a time.
fn same_or_refused(
    a: ApprovalRecord,
    challenge: &ChallengeRecord,
    now: OffsetDateTime,
) -> DomainResult<PushSent> {
    if a.challenge_hash == challenge.token_hash {
        sent(&a, now)
    } else {
        Err(DomainError::TooManyAttempts {
            retry_after: seconds_until(a.expires_at, now),
        })
    }
}

/// The challenge a push request is asked for, and what it is for (see
/// `Purpose::for_approver`).
pub(crate) struct Asked<'a> {
    pub challenge: &'a ChallengeRecord,
    pub purpose: &'static str,
    pub action: Option<String>,
}

/// The push method's approver, while its session lasts.
pub(crate) async fn approver(ctx: &Context, method: MethodId) -> DomainResult<PushMethodRecord> {
    let push =
        ctx.store.push_method(method).await?.ok_or_else(|| {
            DomainError::Internal(anyhow::anyhow!("push method without approver"))
        })?;
    let now = ctx.clock.now();
    let live = ctx
        .store
        .session(push.session_id)
        .await?
        .is_some_and(|s| ctx.config.session.is_live(&s.times(), now));
    if !live {
        return Err(DomainError::FactorNotAllowed(
            "the device that approves for this method has signed out: choose another method".into(),
        ));
    }
    Ok(push)
}

/// Whether the challenge is a step-up of the approver's own session: a session proving itself
/// by answering its own prompt proves nothing (whoever stole it would approve it too).
fn approves_itself(challenge: &ChallengeRecord, push: &PushMethodRecord) -> bool {
    challenge.session_id == Some(push.session_id)
}

fn self_approval() -> DomainError {
    DomainError::FactorNotAllowed(
        "this session is the one that approves push requests: confirm with another method".into(),
    )
}

/// Whether the push method `method` may answer a step-up of `session`: not when that session
/// is its approver.
pub(crate) async fn serves_step_up_of(
    ctx: &Context,
    method: MethodId,
    session: deadbolt_core::ids::SessionId,
) -> DomainResult<bool> {
    Ok(ctx
        .store
        .push_method(method)
        .await?
        .is_none_or(|p| p.session_id != session))
}

/// The send step for a push method: a new request for the approver (or the pending one, to
/// the challenge that made it), within the account's limits.
pub(crate) async fn request(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    asked: Asked<'_>,
    method: &MethodRecord,
) -> DomainResult<PushSent> {
    let Asked {
        challenge,
        purpose: purpose_name,
        action,
    } = asked;
    let now = ctx.clock.now();
    let push = approver(ctx, method.id).await?;
    if approves_itself(challenge, &push) {
        return Err(self_approval());
    }
    if let Some(a) = ctx.store.pending_approval(account.id, now).await? {
        return same_or_refused(a, challenge, now);
    }
    let config = &ctx.config.mfa;
    let pause = Duration::seconds(config.push_pause_seconds);
    let window = Duration::seconds(config.push_window_seconds);
    let (recent, denied_at) = ctx
        .store
        .push_history(account.id, now - window, now - pause)
        .await?;
    if let Some(at) = denied_at {
        return Err(DomainError::TooManyAttempts {
            retry_after: seconds_until(at + pause, now),
        });
    }
    if recent >= config.push_requests_per_window {
        return Err(DomainError::TooManyAttempts {
            retry_after: window.whole_seconds(),
        });
    }
    let place = crate::risk::place_of(ctx, client);
    let record = ApprovalRecord {
        id: ApprovalId::generate(ctx.rng.as_ref()),
        account_id: account.id,
        method_id: method.id,
        challenge_hash: challenge.token_hash.clone(),
        number: i64::from(MatchNumber::draw(ctx.rng.as_ref()).value()),
        state: ApprovalState::Pending,
        reason: None,
        bound: false,
        purpose: purpose_name.to_owned(),
        action,
        ip: client.ip.map(|ip| ip.to_string()),
        place: place.country.clone(),
        user_agent: client
            .user_agent
            .as_deref()
            .map(deadbolt_core::user_agent::describe),
        created_at: now,
        expires_at: now + APPROVAL_TTL,
        decided_at: None,
    };
    let requested = event(
        ctx,
        EventKind::PushRequested,
        Some(account.id),
        client,
        json!({"approval_id": record.id, "method_id": method.id, "purpose": record.purpose}),
    );
    let mut writes = vec![
        push_writes::expire_stale(account.id, now),
        record.insert(),
        requested.write(),
    ];
    if let Some(to) = gateway_address(ctx, &push)? {
        writes.push(gateway_message(ctx, &record, to)?.write());
    }
    match ctx.commit(writes).await {
        Ok(_) => sent(&record, now),
        // a parallel send of this account won the one pending place
        Err(StoreError::Conflict) => match ctx.store.pending_approval(account.id, now).await? {
            Some(a) => same_or_refused(a, challenge, now),
            None => Err(DomainError::TooManyAttempts { retry_after: 1 }),
        },
        Err(e) => Err(e.into()),
    }
}

/// The approver's push gateway address, opened.
fn gateway_address(ctx: &Context, push: &PushMethodRecord) -> DomainResult<Option<String>> {
    let Some((key, nonce, ciphertext)) = &push.sealed_token else {
        return Ok(None);
    };
    let sealed = crate::master_key::Sealed {
        nonce: nonce.clone(),
        ciphertext: ciphertext.clone(),
    };
    let plain = ctx
        .master
        .open(key, &sealed, &push_token_aad(push.method_id))
        .map_err(DomainError::Internal)?;
    String::from_utf8(plain.to_vec())
        .map(Some)
        .map_err(|_| DomainError::Internal(anyhow::anyhow!("push token is not text")))
}

/// The gateway's message: who asks, from where, for what; never the number (it is shown only
/// on the requesting screen, so that approving needs both).
fn gateway_message(
    ctx: &Context,
    a: &ApprovalRecord,
    to: String,
) -> DomainResult<deadbolt_store::SealedMessage> {
    let what = match (a.purpose.as_str(), &a.action) {
        ("step_up", Some(action)) => format!("confirm {action}"),
        ("password_reset", _) => "reset the password".to_owned(),
        _ => "sign in".to_owned(),
    };
    let from = a.ip.as_deref().unwrap_or("an unknown address");
    let device = a.user_agent.as_deref().unwrap_or("an unknown device");
    let body = format!(
        "{}: a request to {what} from {from} on {device}. Open the app to answer it (request {}).",
        ctx.config.mfa.issuer, a.id
    );
    Ok(OutboxMessage {
        id: MessageId::generate(ctx.rng.as_ref()),
        channel: "push".to_owned(),
        recipient: to,
        subject: format!("{}: approve a request?", ctx.config.mfa.issuer),
        body_text: body,
        body_html: None,
        attempts: 0,
        created_at: ctx.clock.now(),
    }
    .seal(ctx.outbox_keys.as_ref())?)
}

/// A request as its approver sees it: who asks, from where, for what; never the number.
#[derive(Debug, Clone)]
pub struct PendingApproval {
    pub record: ApprovalRecord,
}

/// The pending requests the caller's session approves.
pub async fn pending_for(ctx: &Context, who: &Principal) -> DomainResult<Vec<PendingApproval>> {
    let now = ctx.clock.now();
    Ok(ctx
        .store
        .approvals_for_session(who.session.id, now)
        .await?
        .into_iter()
        .filter(|a| a.account_id == who.session.account_id)
        .map(|record| PendingApproval { record })
        .collect())
}
