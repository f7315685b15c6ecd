//! One-time codes sent by email: making them with the message that carries them, sending them
//! within the resend limits, and checking a submitted one.

use crate::error::{ApiError, ApiResult};
use crate::extract::ClientInfo;
use crate::services::events::event;
use crate::state::AppState;
use deadbolt_core::account::Account;
use deadbolt_core::code::{self, CodeCheck, CodePurpose, ResendRefusal, CODE_TTL};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{CodeId, MessageId};
use deadbolt_core::secret::Secret;
use deadbolt_store::{CodeRecord, NewCode, OutboxMessage};
use serde_json::json;
use time::Duration;

/// What the message says around the code, per purpose.
fn wording(purpose: CodePurpose) -> (&'static str, &'static str, &'static str) {
    match purpose {
        CodePurpose::VerifyEmail | CodePurpose::VerifyPhone => (
            "Verify your email address",
            "Your verification code is",
            "If you did not create an account, ignore this message.",
        ),
        CodePurpose::ResetPassword => (
            "Reset your password",
            "Your password reset code is",
            "If you did not ask to reset your password, ignore this message: your password stays as it is.",
        ),
    }
}

/// A fresh code for `purpose` and the email that carries it. The code is the only 6-digit
/// number in the message, so people and tools can pick it out.
pub fn email_code(
    state: &AppState,
    account: &Account,
    purpose: CodePurpose,
) -> (NewCode, OutboxMessage) {
    let now = state.clock.now();
    let secret = code::generate(state.rng.as_ref());
    let new_code = NewCode {
        id: CodeId::generate(state.rng.as_ref()),
        account_id: account.id,
        purpose,
        destination: account.email.as_str().to_owned(),
        hash: code::hash(&state.keys.hasher, purpose, account.id, &secret)
            .0
            .to_vec(),
        expires_at: now + CODE_TTL,
        created_at: now,
    };
    let minutes = CODE_TTL.whole_minutes();
    let (subject, intro, outro) = wording(purpose);
    let message = OutboxMessage {
        id: MessageId::generate(state.rng.as_ref()),
        channel: "email".to_owned(),
        recipient: account.email.as_str().to_owned(),
        subject: subject.to_owned(),
        body_text: format!(
            "{intro} {}.\n\nIt expires in {minutes} minutes. {outro}\n",
            secret.expose()
        ),
        body_html: Some(format!(
            "<p>{intro} <strong>{}</strong>.</p><p>It expires in {minutes} minutes. {outro}</p>",
            secret.expose()
        )),
        attempts: 0,
        created_at: now,
    };
    (new_code, message)
}

/// Sends a fresh code by email unless the resend limits say no.
pub async fn send_email_code(
    state: &AppState,
    client: &ClientInfo,
    account: &Account,
    purpose: CodePurpose,
) -> ApiResult<Result<(), ResendRefusal>> {
    let now = state.clock.now();
    let sent = state
        .store
        .sent_lately(
            account.id,
            purpose,
            account.email.as_str(),
            now - Duration::HOUR,
        )
        .await?;
    if let Err(refusal) = state.config.codes.check(sent, now) {
        return Ok(Err(refusal));
    }
    let (new_code, message) = email_code(state, account, purpose);
    let sent_event = event(
        state,
        EventKind::VerificationCodeSent,
        Some(account.id),
        client,
        json!({"purpose": purpose.as_str(), "channel": "email"}),
    );
    state.store.add_code(new_code, message, sent_event).await?;
    state.outbox_wake.notify_one();
    Ok(Ok(()))
}

/// The live code of `purpose` that `submitted` matches, not yet spent. Wrong codes count
/// against the code; every failure is an event; every failure answers `invalid_code`.
pub async fn check(
    state: &AppState,
    client: &ClientInfo,
    account: &Account,
    purpose: CodePurpose,
    submitted: &Secret,
) -> ApiResult<CodeRecord> {
    if !code::is_well_formed(submitted.expose()) {
        return Err(ApiError::InvalidCode);
    }
    let stored = state
        .store
        .latest_code(account.id, purpose)
        .await?
        .ok_or(ApiError::InvalidCode)?;
    let hash = code::hash(&state.keys.hasher, purpose, account.id, submitted);
    let failed = |reason: &str| {
        event(
            state,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"purpose": purpose.as_str(), "reason": reason}),
        )
    };
    match code::check(&stored.stored, &hash, state.clock.now()) {
        CodeCheck::Accept => Ok(stored),
        CodeCheck::Reject => {
            state
                .store
                .count_code_attempt(stored.id, failed("wrong_code"))
                .await?;
            Err(ApiError::InvalidCode)
        }
        CodeCheck::Dead => {
            state.store.record_event(failed("dead_code")).await?;
            Err(ApiError::InvalidCode)
        }
    }
}
