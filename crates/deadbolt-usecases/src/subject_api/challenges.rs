//! A client's check of its subject's second factor: opened for a sign-in or for an action the
//! product names, sent where the method sends something, and answered through the very path a
//! sign-in's second step takes (`factors::check`, then `factors::finish`), so that a wrong
//! code, a lockout, a replayed TOTP code and a spent challenge answer exactly as they do for
//! Deadbolt's own accounts.
//!
//! The challenge id is the challenge's token: 256 random bits, stored only as a keyed hash,
//! bound to the subject it was opened for (another subject's path, or another client's, finds
//! nothing), and never a sign-in token (the login, step-up and reset steps refuse it).

use super::assertion::{self, CheckedFor};
use super::{account, ApiClient};
use crate::challenge::{self, Answering, Challenged, Pending, Purpose};
use crate::client::{ClientInfo, ForSubject};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factors::{self, FactorInput};
use crate::methods;
use deadbolt_core::auth::{self, AuthMethod};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::MethodId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_store::MethodRecord;
use serde_json::json;

/// A challenge just opened.
pub struct Opened {
    /// The challenge's id: secret, shown once, sent back to answer it.
    pub challenge_id: Secret,
    pub expires_in: i64,
    /// The subject's methods that may answer it, primary first.
    pub methods: Vec<MethodRecord>,
    /// The method it was opened with: the one asked for, else the first of `methods`.
    pub method: MethodRecord,
    /// What the method's send step did (a code sent, WebAuthn options); None for a method
    /// that needs nothing sent (TOTP, recovery codes).
    pub sent: Option<Challenged>,
}

/// Opens a check of the subject's second factor: for a sign-in, or a step-up for `action`
/// (policy's rule for that action decides which factors serve). With `method_id`, that method
/// (else the first the subject is offered) is sent its code, or gets WebAuthn options, within
/// the same limits as a sign-in's send step. A subject without a second factor yet: 403
/// `mfa_enrollment_required`.
pub async fn open(
    ctx: &Context,
    info: &ClientInfo,
    subject: &ForSubject,
    method_id: Option<MethodId>,
    action: Option<&str>,
) -> DomainResult<Opened> {
    let action = action.map(Action::parse).transpose()?;
    let account = account(ctx, subject).await?;
    let stored = ctx.store.methods_of(account.id).await?;
    if !methods::is_enabled(&stored) {
        return Err(DomainError::EnrollmentRequired);
    }
    let purpose = Purpose::ForClient(action);
    let offered = purpose.choices(ctx, &account, stored);
    let method = match method_id {
        Some(id) => offered.iter().find(|m| m.id == id),
        None => offered.first(),
    }
    .cloned()
    .ok_or_else(|| match method_id {
        Some(_) => DomainError::InvalidRequest("no such method for this challenge".into()),
        None => DomainError::FactorNotAllowed(
            "none of this subject's methods may answer this check".into(),
        ),
    })?;
    let (challenge_id, record) = challenge::open(ctx, &account, purpose.clone(), None);
    ctx.commit(vec![record.insert()]).await?;
    let expires_in = (record.expires_at - record.created_at).whole_seconds();
    let pending = Pending::opened(record, purpose, account);
    let sent = if method.kind.is_sent_code() || method.kind == MethodKind::WebAuthn {
        Some(challenge::send(ctx, info, &pending, method.id).await?)
    } else {
        None
    };
    Ok(Opened {
        challenge_id,
        expires_in,
        methods: offered,
        method,
        sent,
    })
}

/// The subject's open challenge this id names: 404 for none of its own (another subject's,
/// another client's, an unknown id), 401 `mfa_token_invalid` once it is spent, expired or
/// dead after too many wrong codes.
async fn own_pending(
    ctx: &Context,
    subject: &ForSubject,
    challenge_id: &Secret,
) -> DomainResult<Pending> {
    challenge::pending(ctx, challenge_id, Answering::Client(subject.account())).await
}

/// The send step again: a fresh code for `method_id` (a resend, or another method), or
/// WebAuthn options, within the resend limits.
pub async fn send(
    ctx: &Context,
    info: &ClientInfo,
    subject: &ForSubject,
    challenge_id: &Secret,
    method_id: MethodId,
) -> DomainResult<Challenged> {
    let pending = own_pending(ctx, subject, challenge_id).await?;
    challenge::send(ctx, info, &pending, method_id).await
}

/// An answer to a check as the product sends it: a factor of a named kind, or a method and
/// its code (the kind is the method's).
pub enum Answer {
    Factor(FactorInput),
    MethodCode { method_id: MethodId, code: Secret },
}

/// A check that passed: how, and the signed assertion of it.
pub struct Verified {
    pub amr: Vec<String>,
    pub acr: String,
    pub assertion: String,
    pub checked: CheckedFor,
    pub method: MethodRecord,
}

/// The factor an answer stands for.
async fn factor_of(
    ctx: &Context,
    subject: &ForSubject,
    answer: Answer,
) -> DomainResult<FactorInput> {
    let (method_id, code) = match answer {
        Answer::Factor(input) => return Ok(input),
        Answer::MethodCode { method_id, code } => (method_id, code),
    };
    let kind = ctx
        .store
        .methods_of(subject.account())
        .await?
        .into_iter()
        .find(|m| m.id == method_id && m.confirmed_at.is_some())
        .map(|m| m.kind)
        .ok_or_else(|| {
            DomainError::InvalidRequest("this subject has no method with that id".into())
        })?;
    let method_id = Some(method_id);
    Ok(match kind {
        MethodKind::Totp => FactorInput::Totp { method_id, code },
        MethodKind::RecoveryCode => FactorInput::RecoveryCode { code },
        MethodKind::Email | MethodKind::Sms | MethodKind::Voice => FactorInput::SentCode {
            kind,
            method_id,
            code,
        },
        MethodKind::WebAuthn => {
            return Err(DomainError::InvalidRequest(
                "`credential` (AuthenticationResponseJSON) answers a security key".into(),
            ))
        }
        // an approver is a signed-in session at Deadbolt, which a subject never has
        MethodKind::Push => {
            return Err(DomainError::InvalidRequest(
                "push approval is not offered through the server API".into(),
            ))
        }
    })
}

/// Checks an answer to the subject's challenge, as a sign-in's second step checks one: the
/// same limits, lockouts, replay rule and single use. A pass spends the challenge and answers
/// `amr` and `acr` (the client's own first factor counted, not named) with an assertion signed
/// for the client; the subject's events record it as a sign-in or a step-up.
pub async fn verify(
    ctx: &Context,
    info: &ClientInfo,
    client: &ApiClient,
    subject: &ForSubject,
    challenge_id: &Secret,
    answer: Answer,
) -> DomainResult<Verified> {
    let pending = own_pending(ctx, subject, challenge_id).await?;
    let Purpose::ForClient(action) = pending.purpose() else {
        return Err(DomainError::NotFound);
    };
    let checked = CheckedFor::of(action.as_ref());
    let sub = pending
        .account()
        .subject_of
        .as_ref()
        .map(|s| s.external_id.as_str().to_owned())
        .ok_or(DomainError::NotFound)?;
    let input = factor_of(ctx, subject, answer).await?;
    let proof = factors::check(ctx, info, &pending, input).await?;
    let methods = [AuthMethod::ClientAsserted, proof.auth];
    let amr = auth::amr(&methods);
    let acr = auth::acr(&methods).to_owned();
    let claims = assertion::claims(ctx, client, &sub, amr.clone(), acr.clone(), checked.clone());
    let signed = assertion::sign(ctx, client, &claims)?;
    let method = proof.method.clone();
    let account_id = pending.account().id;
    let done = match action {
        None => event(
            ctx,
            EventKind::LoginSucceeded,
            Some(account_id),
            info,
            json!({"amr": amr, "method_id": method.id, "client_id": client.client_id()}),
        ),
        Some(action) => event(
            ctx,
            EventKind::StepUpSucceeded,
            Some(account_id),
            info,
            json!({"action": action.as_str(), "method_id": method.id, "client_id": client.client_id()}),
        ),
    };
    factors::finish(ctx, info, &pending, proof, vec![done.write()]).await?;
    Ok(Verified {
        amr,
        acr,
        assertion: signed,
        checked,
        method,
    })
}
