//! Registering a push approver: the calling session becomes the device that approves push
//! requests for the account, optionally bound to an Ed25519 key that signs every answer, and
//! optionally reachable through the push gateway.
//!
//! The method is active at once: the enrolling session is the approver itself, so a test
//! request from it to it would prove nothing the session does not already prove; the step-up,
//! recent sign-in and verified-address rules of every enrolment still apply before it.

use super::enrol::{confirmed, start_enrolment, Confirmed, Enrolment};
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::push::push_token_aad;
use crate::stepup;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deadbolt_core::mfa::MethodKind;
use deadbolt_store::{BatchOutcome, PushMethodRecord};

/// What a push approver registers.
pub struct PushEnrollment {
    pub label: Option<String>,
    /// base64url of a raw 32-byte Ed25519 public key.
    pub public_key: Option<String>,
    /// The push gateway's address for this device (at most 512 characters).
    pub push_token: Option<String>,
}

/// The key, checked to be an Ed25519 public key.
fn parse_public_key(raw: &str) -> DomainResult<Vec<u8>> {
    let bad = || {
        DomainError::InvalidRequest(
            "`public_key` must be a raw 32-byte Ed25519 public key in base64url".into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| bad())?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())?;
    ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
    Ok(bytes)
}

fn check_push_token(token: &str) -> DomainResult<()> {
    if token.is_empty() || token.chars().count() > 512 || token.chars().any(char::is_control) {
        return Err(DomainError::InvalidRequest(
            "`push_token` must be 1 to 512 characters, without control characters".into(),
        ));
    }
    Ok(())
}

/// Makes the caller's session a push approver for its account.
pub async fn enroll_push(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    input: PushEnrollment,
) -> DomainResult<Confirmed> {
    let public_key = input
        .public_key
        .as_deref()
        .map(parse_public_key)
        .transpose()?;
    if let Some(token) = &input.push_token {
        check_push_token(token)?;
    }
    let label = input
        .label
        .unwrap_or_else(|| "Approve on my device".to_owned());
    let Enrolment {
        account,
        method,
        grant,
        mut writes,
    } = start_enrolment(ctx, client, who.into(), MethodKind::Push, label, None).await?;
    if account.subject_of.is_some() {
        // a client's subject has a Deadbolt session only while its product sends it here:
        // nothing would be left to answer from
        return Err(DomainError::FactorNotAllowed(
            "push approval is not available to a product's own users".into(),
        ));
    }
    let sealed_token = match &input.push_token {
        Some(token) => {
            let (key, sealed) = ctx
                .master
                .seal(
                    token.as_bytes(),
                    &push_token_aad(method.id),
                    ctx.rng.as_ref(),
                )
                .map_err(DomainError::Internal)?;
            Some((key, sealed.nonce, sealed.ciphertext))
        }
        None => None,
    };
    writes.push(
        PushMethodRecord {
            method_id: method.id,
            session_id: who.session.id,
            public_key,
            sealed_token,
        }
        .insert(),
    );
    if let BatchOutcome::GuardFailed(_) = stepup::commit_with(ctx, grant, writes).await? {
        return Err(DomainError::InvalidRequest(
            "the enrolment raced with another change; try again".into(),
        ));
    }
    let methods = ctx.store.methods_of(account.id).await?;
    confirmed(ctx, client, who.into(), account, methods, method, vec![]).await
}
