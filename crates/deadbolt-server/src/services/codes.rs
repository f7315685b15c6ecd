//! One-time codes sent by email, SMS or voice: making them with the message that carries them,
//! sending them within the resend limits, and checking a submitted one.

use crate::error::{ApiError, ApiResult};
use crate::extract::ClientInfo;
use crate::messages::Medium;
use crate::services::events::event;
use crate::state::AppState;
use deadbolt_core::account::Account;
use deadbolt_core::code::{self, CodeCheck, CodePurpose, ResendRefusal, CODE_TTL};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{CodeId, MessageId};
use deadbolt_core::secret::Secret;
use deadbolt_core::throttle::retry_after_seconds;
use deadbolt_store::{BatchOutcome, CodeRecord, EventRecord, NewCode, OutboxMessage, Write};
use serde_json::json;
use time::Duration;

/// Where a code goes: the medium and the address or number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub medium: Medium,
    pub address: String,
}

impl Destination {
    pub fn email(account: &Account) -> Self {
        Self {
            medium: Medium::Email,
            address: account.email.as_str().to_owned(),
        }
    }

    /// What the user is shown of it: `j***@example.com`, `+*******0123`.
    pub fn masked(&self) -> String {
        match self.medium {
            Medium::Email => deadbolt_core::email::Email::parse(&self.address)
                .map_or_else(|_| "***".to_owned(), |e| e.masked()),
            Medium::Sms | Medium::Voice => deadbolt_core::phone::Phone::parse(&self.address)
                .map_or_else(|_| "***".to_owned(), |p| p.masked()),
        }
    }
}

/// What a code is for: its purpose and what else it is bound to (see `NewCode::scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeFor {
    pub purpose: CodePurpose,
    pub scope: Option<String>,
}

impl CodeFor {
    pub fn account(purpose: CodePurpose) -> Self {
        Self {
            purpose,
            scope: None,
        }
    }
}

/// A fresh code and the message that carries it to `to`.
pub fn new_code(
    state: &AppState,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> ApiResult<(NewCode, OutboxMessage)> {
    let now = state.clock.now();
    let secret = code::generate(state.rng.as_ref());
    let new_code = NewCode {
        id: CodeId::generate(state.rng.as_ref()),
        account_id: account.id,
        purpose: what.purpose,
        destination: to.address.clone(),
        scope: what.scope.clone(),
        hash: code::hash(&state.keys.hasher(), what.purpose, account.id, &secret)
            .0
            .to_vec(),
        expires_at: now + CODE_TTL,
        created_at: now,
    };
    let rendered = state
        .messages
        .code(to.medium, what.purpose, &secret, CODE_TTL.whole_minutes())
        .map_err(ApiError::Internal)?;
    let message = OutboxMessage {
        id: MessageId::generate(state.rng.as_ref()),
        channel: to.medium.channel().to_owned(),
        recipient: to.address.clone(),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        attempts: 0,
        created_at: now,
    };
    Ok((new_code, message))
}

/// The event that records a code was sent (never the code, nor the full destination).
pub fn sent_event(
    state: &AppState,
    account: &Account,
    client: &ClientInfo,
    what: &CodeFor,
    to: &Destination,
) -> EventRecord {
    event(
        state,
        EventKind::VerificationCodeSent,
        Some(account.id),
        client,
        json!({"purpose": what.purpose.as_str(), "channel": to.medium.channel(), "sent_to": to.masked()}),
    )
}

/// Whether the resend limits let a code for `what` go to `to` now: a wait between sends, and
/// hourly caps per account and per destination.
pub async fn ready_to_send(
    state: &AppState,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> ApiResult<Result<(), ResendRefusal>> {
    let now = state.clock.now();
    let sent = state
        .store
        .sent_lately(account.id, what.purpose, &to.address, now - Duration::HOUR)
        .await?;
    Ok(state.config.codes.check(sent, now))
}

/// The writes that send a fresh code: the resend limits held inside the transaction (a guard:
/// the only one among these writes), the code, the message that carries it, and the event.
pub fn code_writes(
    state: &AppState,
    account: &Account,
    client: &ClientInfo,
    what: &CodeFor,
    to: &Destination,
) -> ApiResult<Vec<Write>> {
    let (code, message) = new_code(state, account, what, to)?;
    let mut writes = state.store.send_limits(&code, &state.config.codes);
    writes.push(code.write());
    writes.push(message.write());
    writes.push(sent_event(state, account, client, what, to).write());
    Ok(writes)
}

/// Why a send was refused after its guard failed (a parallel send won the race).
pub async fn refusal(
    state: &AppState,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> ApiResult<ApiError> {
    let why = ready_to_send(state, account, what, to)
        .await?
        .err()
        .unwrap_or(ResendRefusal::TooSoon(Duration::SECOND));
    Ok(refused(why))
}

/// Sends a fresh code unless the resend limits say no.
pub async fn send(
    state: &AppState,
    client: &ClientInfo,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> ApiResult<Result<(), ApiError>> {
    if let Err(why) = ready_to_send(state, account, what, to).await? {
        return Ok(Err(refused(why)));
    }
    let writes = code_writes(state, account, client, what, to)?;
    match state.store.commit(writes).await? {
        BatchOutcome::Committed => {
            state.outbox_wake.notify_one();
            Ok(Ok(()))
        }
        BatchOutcome::GuardFailed(_) => Ok(Err(refusal(state, account, what, to).await?)),
    }
}

/// How a refused send is answered where the caller asked for it: too soon is
/// `resend_too_soon`, over an hourly cap `too_many_attempts`; both with Retry-After.
pub fn refused(refusal: ResendRefusal) -> ApiError {
    match refusal {
        ResendRefusal::TooSoon(wait) => ApiError::ResendTooSoon {
            retry_after: retry_after_seconds(wait),
        },
        ResendRefusal::Capped(wait) => ApiError::TooManyAttempts {
            retry_after: retry_after_seconds(wait),
        },
    }
}

/// What checking a submitted code found.
pub enum Checked {
    /// Right and live: spend it (with `CodeRecord::consume`) in the caller's transaction.
    Right(CodeRecord),
    /// Wrong on a live code: the write that counts the try against it.
    Wrong(deadbolt_store::Write),
    /// No live code: expired, spent, out of tries, or never sent.
    Dead,
}

/// Compares `submitted` with the latest code sent for `what`. Writes nothing.
pub async fn compare(
    state: &AppState,
    account: &Account,
    what: &CodeFor,
    submitted: &Secret,
) -> ApiResult<Checked> {
    let Some(stored) = state
        .store
        .latest_code(account.id, what.purpose, what.scope.as_deref())
        .await?
    else {
        return Ok(Checked::Dead);
    };
    if !code::is_well_formed(submitted.expose()) {
        // a malformed code is a wrong try like any other
        return Ok(Checked::Wrong(CodeRecord::wrong_try(stored.id)));
    }
    let hash = code::hash(&state.keys.hasher(), what.purpose, account.id, submitted);
    Ok(
        match code::check(&stored.stored, &hash, state.clock.now()) {
            CodeCheck::Accept => Checked::Right(stored),
            CodeCheck::Reject => Checked::Wrong(CodeRecord::wrong_try(stored.id)),
            CodeCheck::Dead => Checked::Dead,
        },
    )
}

/// The live code for `what` that `submitted` matches, not yet spent. Wrong codes count
/// against the code; every failure is an event; every failure answers `invalid_code`.
pub async fn check(
    state: &AppState,
    client: &ClientInfo,
    account: &Account,
    what: &CodeFor,
    submitted: &Secret,
) -> ApiResult<CodeRecord> {
    let failed = |reason: &str| {
        event(
            state,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"purpose": what.purpose.as_str(), "reason": reason}),
        )
    };
    match compare(state, account, what, submitted).await? {
        Checked::Right(stored) => Ok(stored),
        Checked::Wrong(count) => {
            state
                .store
                .commit(vec![count, failed("wrong_code").write()])
                .await?;
            Err(ApiError::InvalidCode)
        }
        Checked::Dead => {
            state.store.record_event(failed("dead_code")).await?;
            Err(ApiError::InvalidCode)
        }
    }
}
