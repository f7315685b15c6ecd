//! Checking a second factor against a pending challenge (a login's mfa_token or a step-up's
//! challenge_token), with every limit applied before the code is even looked at: a dead or
//! locked challenge never reveals whether a code was right.

mod failure;
mod push_answer;
mod stored;

use failure::{fail, Miss};
use stored::recovery_code;
pub use stored::{clean_code, open_totp, totp_aad};

use crate::challenge::{self, Pending, Purpose};
use crate::client::ClientInfo;
use crate::codes::{self, Checked};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_core::account::Account;
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{ApprovalId, MethodId};
use deadbolt_core::mfa::{authenticator_gate, AuthenticatorGate, MethodKind};
use deadbolt_core::password::PasswordHashString;
use deadbolt_core::secret::Secret;
use deadbolt_core::throttle::{retry_after_seconds, FailureWindow, ThrottlePolicy};
use deadbolt_core::totp::{self};
use deadbolt_core::{recovery, CoreError};
use deadbolt_store::read::Reads;
use deadbolt_store::{
    method_reads, method_writes, throttle_reads, throttle_writes, BatchOutcome, ChallengeRecord,
    EventRecord, MethodRecord, SealedMessage, TotpRecord, Write,
};
use serde_json::json;

/// A second factor as submitted.
pub enum FactorInput {
    Totp {
        method_id: Option<MethodId>,
        code: Secret,
    },
    RecoveryCode {
        code: Secret,
    },
    /// A code we sent by email, SMS or voice call.
    SentCode {
        kind: MethodKind,
        method_id: Option<MethodId>,
        code: Secret,
    },
    /// A WebAuthn assertion (AuthenticationResponseJSON), as received.
    WebAuthn {
        method_id: Option<MethodId>,
        credential: serde_json::Value,
    },
    /// A push request this challenge made, once its approver answered.
    Push {
        approval_id: ApprovalId,
    },
}

impl FactorInput {
    pub fn kind(&self) -> MethodKind {
        match self {
            Self::Totp { .. } => MethodKind::Totp,
            Self::RecoveryCode { .. } => MethodKind::RecoveryCode,
            Self::SentCode { kind, .. } => *kind,
            Self::WebAuthn { .. } => MethodKind::WebAuthn,
            Self::Push { .. } => MethodKind::Push,
        }
    }

    fn method_id(&self) -> Option<MethodId> {
        match self {
            Self::Totp { method_id, .. }
            | Self::SentCode { method_id, .. }
            | Self::WebAuthn { method_id, .. } => *method_id,
            Self::RecoveryCode { .. } | Self::Push { .. } => None,
        }
    }
}

/// A factor that checked out, and the writes that spend it; nothing is spent until [`finish`]
/// commits them with the caller's own writes.
pub struct Proof {
    pub method: MethodRecord,
    pub auth: AuthMethod,
    writes: Vec<Write>,
    events: Vec<EventRecord>,
    mails: Vec<SealedMessage>,
    bucket: (String, ThrottlePolicy),
}

/// The method a submission names: the given id, or the primary (else first) active method of
/// that kind.
fn resolve(
    methods: &[MethodRecord],
    kind: MethodKind,
    id: Option<MethodId>,
) -> Option<&MethodRecord> {
    let of_kind = || {
        methods
            .iter()
            .filter(|m| m.kind == kind && m.confirmed_at.is_some())
    };
    match id {
        Some(id) => of_kind().find(|m| m.id == id),
        None => of_kind()
            .find(|m| m.is_primary)
            .or_else(|| of_kind().next()),
    }
}

/// Checks `input` against a pending challenge, by the rule its purpose brings.
pub async fn check(
    ctx: &Context,
    client: &ClientInfo,
    pending: &Pending,
    input: FactorInput,
) -> DomainResult<Proof> {
    let (proof, ()) = check_with(ctx, client, pending, input, ()).await?;
    Ok(proof)
}

/// As [`check`], making the caller's reads `also` together with the check's own (one round
/// trip; on SQLite one snapshot too); their results come back with the proof. A failure of
/// any of them fails the check.
pub async fn check_with<R: Reads>(
    ctx: &Context,
    client: &ClientInfo,
    pending: &Pending,
    input: FactorInput,
    also: R,
) -> DomainResult<(Proof, R::Output)> {
    let (challenge, purpose, account) = (pending.record(), pending.purpose(), pending.account());
    if !challenge::is_live(ctx, challenge) {
        return Err(DomainError::MfaTokenInvalid);
    }
    let now = ctx.clock.now();
    let (key, policy) = challenge::failure_bucket(ctx, account, input.kind());
    // the lock, the methods and their TOTP secrets in one read
    let ((seen, stored, totp_secrets), extra) = ctx
        .store
        .read_together((
            (
                throttle_reads::failure_window(&key, policy.window_start(now)),
                method_reads::methods_of(account.id),
                method_reads::totp_of_account(account.id),
            ),
            also,
        ))
        .await?;
    let loaded = Loaded {
        seen,
        stored,
        totp_secrets,
        bucket: (key, policy),
    };
    let proof = judge(ctx, client, account, challenge, purpose, input, loaded).await?;
    Ok((proof, extra))
}

/// What a check read before judging the factor.
struct Loaded {
    seen: FailureWindow,
    stored: Vec<MethodRecord>,
    totp_secrets: Vec<TotpRecord>,
    bucket: (String, ThrottlePolicy),
}

#[allow(
    clippy::too_many_arguments,
    reason = "the check's own parts, passed on whole"
)]
async fn judge(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    challenge: &ChallengeRecord,
    purpose: &Purpose,
    input: FactorInput,
    loaded: Loaded,
) -> DomainResult<Proof> {
    let Loaded {
        seen,
        stored,
        totp_secrets,
        bucket: (key, policy),
    } = loaded;
    let now = ctx.clock.now();
    let kind = input.kind();
    if let Err(CoreError::Throttled(wait)) = policy.check(seen, now) {
        return Err(DomainError::MfaLocked {
            retry_after: retry_after_seconds(wait),
        });
    }
    let methods = challenge::answering_methods(purpose, account, stored);
    // an assertion names its credential, and so its method
    let named = match &input {
        FactorInput::WebAuthn {
            method_id,
            credential,
        } => Some(crate::webauthn::method_of(ctx, account.id, credential, *method_id).await?),
        // a request names its method, and is this challenge's only
        FactorInput::Push { approval_id } => {
            let approval = push_answer::approval_of(ctx, account, challenge, *approval_id).await?;
            Some(approval.method_id)
        }
        _ => input.method_id(),
    };
    let method = resolve(&methods, kind, named).cloned().ok_or_else(|| {
        DomainError::InvalidRequest(format!(
            "this account has no {} method with that id",
            kind.as_str()
        ))
    })?;
    // the caller's rule, brought by the challenge's purpose
    purpose.accepts_answer(ctx, kind, &methods)?;
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
    // nothing to clear when nothing failed lately: one write less on the common path
    let clear = (seen.count > 0).then(|| throttle_writes::clear_failures(&key));
    let bucket = (key, policy);
    match input {
        FactorInput::Totp { code, .. } => {
            let rec = totp_secrets
                .into_iter()
                .find(|t| t.method_id == method.id)
                .ok_or_else(|| {
                    DomainError::Internal(anyhow::anyhow!("TOTP method without a secret"))
                })?;
            let (secret, params) = open_totp(ctx, &rec)?;
            let code = clean_code(&code);
            match totp::verify(&secret, &params, code.expose(), now, Some(rec.last_step)) {
                Some(step) => Ok(Proof {
                    writes: [
                        method_writes::accept_totp_step(method.id, step),
                        method_writes::method_used(method.id, now),
                    ]
                    .into_iter()
                    .chain(clear)
                    .collect(),
                    events: vec![],
                    mails: vec![],
                    auth: AuthMethod::Totp,
                    method,
                    bucket,
                }),
                None => {
                    let replay = totp::verify(&secret, &params, code.expose(), now, None).is_some();
                    Err(fail(
                        ctx,
                        client,
                        account,
                        challenge,
                        Miss {
                            method: &method,
                            bucket: &bucket,
                            replay,
                            extra: vec![],
                        },
                    )
                    .await)
                }
            }
        }
        FactorInput::RecoveryCode { code } => {
            let normalized = recovery::normalize(code.expose());
            let row = match &normalized {
                Some(n) => recovery_code(ctx, account, n).await?,
                None => None,
            };
            // one Argon2 verification whether or not a row was found
            let stored = row.as_ref().map(|r| PasswordHashString(r.hash.clone()));
            let candidate = Secret::new(normalized.unwrap_or_default());
            let hasher = ctx.passwords.clone();
            let matched = ctx
                .hash_pool
                .run(move || hasher.verify(&candidate, stored.as_ref()))
                .await?;
            match row.filter(|_| matched) {
                Some(row) => Ok(Proof {
                    writes: [
                        method_writes::use_recovery_code(row.id, now),
                        method_writes::method_used(method.id, now),
                    ]
                    .into_iter()
                    .chain(clear)
                    .collect(),
                    events: vec![event(
                        ctx,
                        EventKind::RecoveryCodeUsed,
                        Some(account.id),
                        client,
                        json!({"recovery_code_id": row.id}),
                    )],
                    mails: notice(ctx, account, Notice::RecoveryCodeUsed, client)?
                        .into_iter()
                        .collect(),
                    auth: AuthMethod::RecoveryCode,
                    method,
                    bucket,
                }),
                None => Err(fail(
                    ctx,
                    client,
                    account,
                    challenge,
                    Miss {
                        method: &method,
                        bucket: &bucket,
                        replay: false,
                        extra: vec![],
                    },
                )
                .await),
            }
        }
        FactorInput::SentCode { code, .. } => {
            let what = challenge::challenge_code(method.id, challenge);
            match codes::compare(ctx, account, &what, &clean_code(&code)).await? {
                Checked::Right(sent) => Ok(Proof {
                    writes: [
                        sent.consume(now),
                        method_writes::method_used(method.id, now),
                    ]
                    .into_iter()
                    .chain(clear)
                    .collect(),
                    events: vec![],
                    mails: vec![],
                    auth: method.kind.auth_method(),
                    method,
                    bucket,
                }),
                // a wrong try also counts against the code; a dead code has nothing to count
                miss => {
                    let extra = match miss {
                        Checked::Wrong(counted) => vec![counted],
                        _ => vec![],
                    };
                    let miss = Miss {
                        method: &method,
                        bucket: &bucket,
                        replay: false,
                        extra,
                    };
                    Err(fail(ctx, client, account, challenge, miss).await)
                }
            }
        }
        FactorInput::Push { approval_id } => {
            let approval = push_answer::approval_of(ctx, account, challenge, approval_id).await?;
            Ok(Proof {
                writes: [
                    push_answer::verdict(ctx, &approval)?,
                    method_writes::method_used(method.id, now),
                ]
                .into_iter()
                .chain(clear)
                .collect(),
                events: vec![],
                mails: vec![],
                auth: AuthMethod::Push {
                    bound: approval.bound,
                },
                method,
                bucket,
            })
        }
        FactorInput::WebAuthn { credential, .. } => {
            match crate::webauthn::check_second_factor(
                ctx,
                client,
                account,
                challenge,
                &method,
                &credential,
            )
            .await?
            {
                Ok(verified) => Ok(Proof {
                    writes: verified
                        .writes
                        .into_iter()
                        .chain([method_writes::method_used(method.id, now)])
                        .chain(clear)
                        .collect(),
                    events: vec![],
                    mails: vec![],
                    auth: verified.auth,
                    method,
                    bucket,
                }),
                Err(refused) => {
                    let miss = Miss {
                        method: &method,
                        bucket: &bucket,
                        replay: false,
                        extra: refused.writes,
                    };
                    let answer = fail(ctx, client, account, challenge, miss).await;
                    Err(answer)
                }
            }
        }
    }
}

/// Spends the challenge and the factor together with the caller's writes. Of two racing
/// successes with the same token or the same TOTP step, exactly one commits.
pub async fn finish(
    ctx: &Context,
    client: &ClientInfo,
    pending: &Pending,
    proof: Proof,
    extra: Vec<Write>,
) -> DomainResult<()> {
    let (challenge, account) = (pending.record(), pending.account());
    let now = ctx.clock.now();
    let (key, policy) = &proof.bucket;
    // The challenge is spent only while the account is not locked, checked in the same
    // transaction (serialised per bucket), so a burst of parallel attempts cannot all pass a
    // lock that each of them read as open.
    let mut writes: Vec<Write> = ctx.store.lock_bucket(key).into_iter().collect();
    let consume_at = writes.len();
    writes.push(challenge.consume_unless_locked(
        now,
        ctx.policy.get().lockout.token_max_failures,
        key,
        policy.window_start(now),
        policy.max_failures,
    ));
    let factor_guards = proof.writes.len();
    writes.extend(proof.writes);
    writes.extend(proof.events.iter().map(EventRecord::write));
    writes.extend(proof.mails.iter().map(SealedMessage::write));
    writes.extend(extra);
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(i) if i == consume_at => {
            Err(match challenge::lock_wait(ctx, key, policy).await? {
                Some(retry_after) => DomainError::MfaLocked { retry_after },
                None => DomainError::MfaTokenInvalid,
            })
        }
        // the factor was spent by a concurrent request between the check and the commit
        BatchOutcome::GuardFailed(i) if i <= consume_at + factor_guards => Err(fail(
            ctx,
            client,
            account,
            challenge,
            Miss {
                method: &proof.method,
                bucket: &proof.bucket,
                replay: proof.auth == AuthMethod::Totp,
                extra: vec![],
            },
        )
        .await),
        BatchOutcome::GuardFailed(_) => Err(DomainError::Internal(anyhow::anyhow!(
            "a second-factor write found nothing to change"
        ))),
    }
}
