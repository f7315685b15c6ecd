//! One-time codes sent by email, SMS or voice: making them with the message that carries them,
//! sending them within the resend limits, and checking a submitted one.

use crate::attempts::{self, Bucket, Reserved};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::messages::Medium;
use deadbolt_core::account::Account;
use deadbolt_core::code::{self, CodeCheck, CodePurpose, ResendRefusal, CODE_TTL};
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, CodeId, MessageId};
use deadbolt_core::secret::Secret;
use deadbolt_core::throttle::{retry_after_seconds, ThrottlePolicy};
use deadbolt_store::{
    BatchOutcome, CodeRecord, EventRecord, NewCode, OutboxMessage, SealedMessage, Write,
};
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
    ctx: &Context,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> DomainResult<(NewCode, SealedMessage)> {
    let now = ctx.clock.now();
    let secret = code::generate(ctx.rng.as_ref());
    let new_code = NewCode {
        id: CodeId::generate(ctx.rng.as_ref()),
        account_id: account.id,
        purpose: what.purpose,
        destination: to.address.clone(),
        scope: what.scope.clone(),
        hash: code::hash(&ctx.keys.hasher(), what.purpose, account.id, &secret)
            .0
            .to_vec(),
        expires_at: now + CODE_TTL,
        created_at: now,
    };
    let rendered = ctx
        .messages
        .code(to.medium, what.purpose, &secret, CODE_TTL.whole_minutes())
        .map_err(DomainError::Internal)?;
    let message = OutboxMessage {
        id: MessageId::generate(ctx.rng.as_ref()),
        channel: to.medium.channel().to_owned(),
        recipient: to.address.clone(),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        attempts: 0,
        created_at: now,
    }
    .seal(ctx.outbox_keys.as_ref())?;
    Ok((new_code, message))
}

/// The event that records a code was sent (never the code, nor the full destination).
pub fn sent_event(
    ctx: &Context,
    account: &Account,
    client: &ClientInfo,
    what: &CodeFor,
    to: &Destination,
) -> EventRecord {
    event(
        ctx,
        EventKind::VerificationCodeSent,
        Some(account.id),
        client,
        json!({"purpose": what.purpose.as_str(), "channel": to.medium.channel(), "sent_to": to.masked()}),
    )
}

/// Whether the resend limits let a code for `what` go to `to` now: a wait between sends, and
/// hourly caps per account and per destination.
pub async fn ready_to_send(
    ctx: &Context,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> DomainResult<Result<(), ResendRefusal>> {
    let now = ctx.clock.now();
    let sent = ctx
        .store
        .sent_lately(account.id, what.purpose, &to.address, now - Duration::HOUR)
        .await?;
    Ok(ctx.config.codes.check(sent, now))
}

/// The writes that send a fresh code: the resend limits held inside the transaction (a guard:
/// the only one among these writes), the code, the message that carries it, and the event.
pub fn code_writes(
    ctx: &Context,
    account: &Account,
    client: &ClientInfo,
    what: &CodeFor,
    to: &Destination,
) -> DomainResult<Vec<Write>> {
    let (code, message) = new_code(ctx, account, what, to)?;
    let mut writes = ctx.store.send_limits(&code, &ctx.config.codes);
    writes.push(code.write());
    writes.push(message.write());
    writes.push(sent_event(ctx, account, client, what, to).write());
    Ok(writes)
}

/// Why a send was refused after its guard failed (a parallel send won the race).
pub async fn refusal(
    ctx: &Context,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> DomainResult<DomainError> {
    let why = ready_to_send(ctx, account, what, to)
        .await?
        .err()
        .unwrap_or(ResendRefusal::TooSoon(Duration::SECOND));
    Ok(refused(why))
}

/// Sends a fresh code unless the resend limits say no.
pub async fn send(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    what: &CodeFor,
    to: &Destination,
) -> DomainResult<Result<(), DomainError>> {
    if let Err(why) = ready_to_send(ctx, account, what, to).await? {
        return Ok(Err(refused(why)));
    }
    let writes = code_writes(ctx, account, client, what, to)?;
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => Ok(Ok(())),
        BatchOutcome::GuardFailed(_) => Ok(Err(refusal(ctx, account, what, to).await?)),
    }
}

/// Where a code asked for without signing in may go: to an account's address, or nowhere.
pub enum Recipient<'a> {
    Account(&'a Account, Destination),
    /// An unknown address, or an account with nothing to send to it.
    Nobody(&'a Email),
}

/// For the requests anyone may make for any address (password reset, resending a
/// verification code), which answer alike whether or not the address has an account: sends a
/// code where one is due and the resend limits allow, and otherwise does the same work (the
/// same reads, the code and its message made, a transaction of the same writes) undone before
/// it commits, so that how long the answer takes tells nothing either. `also` adds the events
/// of a send. True when a code went out.
pub async fn send_or_stand_in(
    ctx: &Context,
    client: &ClientInfo,
    to: Recipient<'_>,
    what: &CodeFor,
    also: impl FnOnce(&Account) -> Vec<EventRecord>,
) -> DomainResult<bool> {
    let (account, to, due) = match to {
        Recipient::Account(account, to) => (account.clone(), to, true),
        Recipient::Nobody(email) => {
            let to = Destination {
                medium: Medium::Email,
                address: email.as_str().to_owned(),
            };
            (stand_in(ctx, email), to, false)
        }
    };
    let ready = ready_to_send(ctx, &account, what, &to).await?.is_ok();
    let (code, message) = new_code(ctx, &account, what, &to)?;
    let mut events = vec![sent_event(ctx, &account, client, what, &to)];
    events.extend(also(&account));
    let sent = if due && ready {
        let mut writes = ctx.store.send_limits(&code, &ctx.config.codes);
        writes.push(code.write());
        writes.push(message.write());
        writes.extend(events.iter().map(EventRecord::write));
        // a lost race with a parallel send sends nothing, as the limits say
        matches!(ctx.commit(writes).await?, BatchOutcome::Committed)
    } else {
        let undone = ctx
            .store
            .undone_send(&code, &ctx.config.codes, &message, &events);
        ctx.commit(undone).await?;
        false
    };
    // a real send wakes the outbox (a stand-in queues nothing); the delivery overlaps the
    // answer's floor (see `answered_after_floor`)
    Ok(sent)
}

/// How long an answer that must not tell whether an address has an account takes at least.
/// The same work is done either way; this floor, well above that work's own time, also hides
/// what differs in it (a row that stays against one that is undone, a warm page against a cold
/// one), so that the median times of known and unknown addresses agree.
const ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs `work` and answers no sooner than [`ANSWER_FLOOR`] after it began (a monotonic timer:
/// this is about the answer's timing, not a rule of time).
pub async fn answered_after_floor<T>(work: impl std::future::Future<Output = T>) -> T {
    let began = tokio::time::Instant::now();
    let out = work.await;
    tokio::time::sleep_until(began + ANSWER_FLOOR).await;
    out
}

/// An account that does not exist, for [`send_or_stand_in`]'s work without a recipient.
fn stand_in(ctx: &Context, email: &Email) -> Account {
    Account {
        id: AccountId::generate(ctx.rng.as_ref()),
        email: email.clone(),
        email_verified: false,
        phone: None,
        phone_verified: false,
        password_hash: None,
        roles: Vec::new(),
        created_at: ctx.clock.now(),
        sso_provider: None,
        subject_of: None,
    }
}

/// How a refused send is answered where the caller asked for it: too soon is
/// `resend_too_soon`, over an hourly cap `too_many_attempts`; both with Retry-After.
pub fn refused(refusal: ResendRefusal) -> DomainError {
    match refusal {
        ResendRefusal::TooSoon(wait) => DomainError::ResendTooSoon {
            retry_after: retry_after_seconds(wait),
        },
        ResendRefusal::Capped(wait) => DomainError::TooManyAttempts {
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
    ctx: &Context,
    account: &Account,
    what: &CodeFor,
    submitted: &Secret,
) -> DomainResult<Checked> {
    let Some(stored) = ctx
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
    let hash = code::hash(&ctx.keys.hasher(), what.purpose, account.id, submitted);
    Ok(match code::check(&stored.stored, &hash, ctx.clock.now()) {
        CodeCheck::Accept => Checked::Right(stored),
        CodeCheck::Reject => Checked::Wrong(CodeRecord::wrong_try(stored.id)),
        CodeCheck::Dead => Checked::Dead,
    })
}

/// The account-wide budget of wrong codes sent by email or text outside the second-factor step
/// (password reset, sign-up verification, email and phone change): each code allows a few
/// tries and codes can be sent again, so without it guesses would add up without bound.
fn code_budget(ctx: &Context, key: String) -> Bucket {
    let limits = &ctx.config.limits;
    Bucket {
        key,
        policy: ThrottlePolicy {
            max_failures: limits.code_failures_per_account,
            window: Duration::seconds(limits.login_window_seconds),
        },
    }
}

/// Counts a code try against the account's budget before it is judged (given back when the
/// code is right): 429 `too_many_attempts` once the budget is spent, a right code included.
pub async fn reserve_try(ctx: &Context, account: &Account) -> DomainResult<Reserved> {
    reserve_in(
        ctx,
        code_budget(ctx, format!("codes:account:{}", account.id)),
    )
    .await
}

async fn reserve_in(ctx: &Context, budget: Bucket) -> DomainResult<Reserved> {
    attempts::reserve(ctx, vec![budget])
        .await?
        .map_err(|full| DomainError::TooManyAttempts {
            retry_after: full.retry_after,
        })
}

/// A code submitted for an email without an account: `invalid_code`, counted in a budget of
/// that address as an account's would be, so that neither the answer nor the limit tells
/// whether the account exists. The key is a keyed hash: the table holds no addresses.
pub async fn unknown_account_try(ctx: &Context, email: &Email) -> DomainError {
    let hashed = ctx
        .keys
        .hasher()
        .hash(&[b"code-email", email.as_str().as_bytes()])
        .to_hex();
    match reserve_in(ctx, code_budget(ctx, format!("codes:email:{hashed}"))).await {
        Ok(reserved) => {
            reserved.keep();
            DomainError::InvalidCode
        }
        Err(e) => e,
    }
}

/// The live code for `what` that `submitted` matches, not yet spent. Every try counts against
/// the account's code budget first (see [`reserve_try`]); wrong codes also count against the
/// code; every failure is an event; every failure answers `invalid_code`.
pub async fn check(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    what: &CodeFor,
    submitted: &Secret,
) -> DomainResult<CodeRecord> {
    let reserved = reserve_try(ctx, account).await?;
    let failed = |reason: &str| {
        event(
            ctx,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"purpose": what.purpose.as_str(), "reason": reason}),
        )
    };
    match compare(ctx, account, what, submitted).await? {
        Checked::Right(stored) => {
            reserved.give_back_now(ctx).await?;
            Ok(stored)
        }
        Checked::Wrong(count) => {
            reserved.keep();
            ctx.commit(vec![count, failed("wrong_code").write()])
                .await?;
            Err(DomainError::InvalidCode)
        }
        // a try at a dead code counts too: an unknown account's tries are all of this kind
        Checked::Dead => {
            reserved.keep();
            ctx.store.record_event(failed("dead_code")).await?;
            Err(DomainError::InvalidCode)
        }
    }
}
