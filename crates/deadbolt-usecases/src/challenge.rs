//! The challenge ceremony every second-factor check goes through: a sign-in, a step-up, a
//! password reset and a client's check of its subject each open a challenge for a typed
//! [`Purpose`] and hand the person (or the client) its token; the person picks one of the
//! [`choices`], has a code [`send`]t where one is needed, and answers (see
//! `crate::factors::check`). The purpose carries the caller's rule of which factors may answer,
//! so the check itself knows no caller.

use crate::client::ClientInfo;
use crate::codes::{self, CodeFor, Destination};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
pub use crate::factor_buckets::failure_bucket;
use crate::factor_policy;
use crate::messages::Medium;
use crate::methods;
use crate::risk;
use deadbolt_core::account::Account;
use deadbolt_core::code::CodePurpose;
use deadbolt_core::ids::{AccountId, MethodId, SessionId};
use deadbolt_core::mfa::{authenticator_gate, AuthenticatorGate, MethodKind};
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_core::throttle::{retry_after_seconds, ThrottlePolicy};
use deadbolt_core::{token, CoreError};
use deadbolt_store::{ChallengeRecord, MethodRecord};

/// What a challenge is for. Stored as the challenge's `purpose` (and, for a step-up, its
/// `action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The second step of a password sign-in.
    Login,
    /// A sign-in the risk rules answer with a code to the account's verified email, whatever
    /// second factors it has or policy allows.
    EmailCheck,
    /// A fresh check before a guarded action.
    StepUp(Action),
    /// The second factor of a password reset.
    Reset,
    /// A check a client asks of one of its subjects through the server API: a sign-in's second
    /// factor (no action), or a step-up for an action the client names. Judged by the same
    /// rules as those ([`Purpose::Login`], [`Purpose::StepUp`]), answered only through that
    /// client for that subject, and never a sign-in at Deadbolt itself.
    ForClient(Option<Action>),
}

impl Purpose {
    fn stored_name(&self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::EmailCheck => "login_email",
            Self::StepUp(_) => "step_up",
            Self::Reset => "reset",
            Self::ForClient(_) => "client",
        }
    }

    /// What an approver is told a push request is for: `sign_in`, `step_up` (with its action)
    /// or `password_reset`.
    pub fn for_approver(&self) -> (&'static str, Option<String>) {
        match self {
            Self::Login | Self::EmailCheck | Self::ForClient(None) => ("sign_in", None),
            Self::StepUp(action) | Self::ForClient(Some(action)) => {
                ("step_up", Some(action.as_str().to_owned()))
            }
            Self::Reset => ("password_reset", None),
        }
    }

    /// The purpose whose rules a client's check follows: a sign-in's, or its action's step-up.
    fn rules_of(action: &Option<Action>) -> Self {
        match action {
            None => Self::Login,
            Some(action) => Self::StepUp(action.clone()),
        }
    }

    /// The purpose a stored challenge was opened for; None for one this version does not know.
    pub fn of(record: &ChallengeRecord) -> Option<Self> {
        Some(match record.purpose.as_str() {
            "login" => Self::Login,
            "login_email" => Self::EmailCheck,
            "step_up" => Self::StepUp(Action::parse(record.action.as_deref()?).ok()?),
            "reset" => Self::Reset,
            "client" => Self::ForClient(
                record
                    .action
                    .as_deref()
                    .map(Action::parse)
                    .transpose()
                    .ok()?,
            ),
            _ => return None,
        })
    }

    /// Whether a factor of `kind` may answer a challenge of this purpose, given the account's
    /// `methods`; the refusal says why.
    pub fn admits(
        &self,
        ctx: &Context,
        kind: MethodKind,
        methods: &[MethodRecord],
    ) -> DomainResult<()> {
        match self {
            // policy's own ask, whatever kinds of method may be enrolled
            Self::EmailCheck => Ok(()),
            Self::Login => factor_policy::ensure_allowed(ctx, kind),
            Self::StepUp(action) => {
                factor_policy::ensure_allowed(ctx, kind)?;
                factor_policy::ensure_strong_enough(ctx, action, kind, methods)
            }
            Self::Reset => {
                factor_policy::ensure_reset_factor(kind)?;
                factor_policy::ensure_allowed(ctx, kind)
            }
            Self::ForClient(action) => Self::rules_of(action).admits(ctx, kind, methods),
        }
    }

    /// Whether an answer of `kind` may finish a challenge of this purpose, given the account's
    /// `methods`: the check's half of the rule ([`Purpose::admits`] is the send step's).
    pub fn accepts_answer(
        &self,
        ctx: &Context,
        kind: MethodKind,
        methods: &[MethodRecord],
    ) -> DomainResult<()> {
        // a kind an administrator took out of `allowed_methods` stops proving anything at once,
        // enrolled or not
        let allowed = || {
            if ctx.policy.get().allows_method(kind.as_str()) {
                Ok(())
            } else {
                Err(DomainError::FactorNotAllowed(format!(
                    "this service no longer accepts {} as a second factor",
                    kind.as_str()
                )))
            }
        };
        match self {
            // policy's own ask, whatever kinds it allows
            Self::EmailCheck => Ok(()),
            Self::Login => allowed(),
            Self::StepUp(action) => {
                factor_policy::ensure_strong_enough(ctx, action, kind, methods)?;
                allowed()
            }
            Self::Reset => {
                factor_policy::ensure_reset_factor(kind)?;
                allowed()
            }
            Self::ForClient(action) => Self::rules_of(action).accepts_answer(ctx, kind, methods),
        }
    }

    /// Of the account's stored methods, those offered for this purpose, in the order a person
    /// is offered them.
    pub fn choices(
        &self,
        ctx: &Context,
        account: &Account,
        stored: Vec<MethodRecord>,
    ) -> Vec<MethodRecord> {
        match self {
            Self::EmailCheck => answering_methods(self, account, stored),
            Self::Login => methods::usable_methods(stored),
            Self::StepUp(action) => {
                let stronger = factor_policy::has_stronger(&stored);
                let policy = ctx.policy.get();
                let mut methods = methods::usable_methods(stored);
                methods.retain(|m| policy.factor_satisfies(action, m.kind, stronger));
                methods
            }
            Self::Reset => methods::usable_methods(stored)
                .into_iter()
                .filter(|m| m.kind.serves_password_reset())
                .collect(),
            Self::ForClient(action) => Self::rules_of(action).choices(ctx, account, stored),
        }
    }
}

/// A fresh challenge for `purpose` and its token (`mfa_` for a sign-in, `sbc_` for a client's
/// check of its subject, `suc_` otherwise);
/// the caller commits the record with its own writes.
pub fn open(
    ctx: &Context,
    account: &Account,
    purpose: Purpose,
    session: Option<SessionId>,
) -> (Secret, ChallengeRecord) {
    let now = ctx.clock.now();
    let prefix = match purpose {
        Purpose::Login | Purpose::EmailCheck => "mfa_",
        Purpose::StepUp(_) | Purpose::Reset => "suc_",
        Purpose::ForClient(_) => "sbc_",
    };
    let secret = token::generate(prefix, ctx.rng.as_ref());
    let record = ChallengeRecord {
        token_hash: ctx.keys.hasher().hash_token(&secret).0.to_vec(),
        account_id: account.id,
        purpose: purpose.stored_name().to_owned(),
        action: match &purpose {
            Purpose::StepUp(action) | Purpose::ForClient(Some(action)) => {
                Some(action.as_str().to_owned())
            }
            _ => None,
        },
        target: None,
        session_id: session,
        created_at: now,
        expires_at: now + ctx.policy.get().lockout.token_ttl(),
        failures: 0,
        consumed_at: None,
    };
    (secret, record)
}

/// A challenge waiting for its answer: its record, its purpose, and the account it is for.
/// Only [`pending`] makes one, so a purpose is always the one its record was opened for.
#[derive(Debug, Clone)]
pub struct Pending {
    record: ChallengeRecord,
    purpose: Purpose,
    account: Account,
}

impl Pending {
    pub fn record(&self) -> &ChallengeRecord {
        &self.record
    }

    pub fn purpose(&self) -> &Purpose {
        &self.purpose
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The challenge `open` just made, once its record is committed: pending as it was opened.
    pub(crate) fn opened(record: ChallengeRecord, purpose: Purpose, account: Account) -> Self {
        Self {
            record,
            purpose,
            account,
        }
    }
}

/// Which challenges a caller may answer.
#[derive(Debug, Clone, Copy)]
pub enum Answering {
    /// A sign-in's, by its mfa_token, on the hosted pages.
    SignIn,
    /// A sign-in's, by its mfa_token, through the JSON API: never a client's subject's (it
    /// signs in on the hosted pages only, for its client; the API would give it tokens for
    /// Deadbolt's own account endpoints).
    SignInApi,
    /// A step-up opened by the caller's own session: another session's token is as good as
    /// none.
    StepUp(SessionId),
    /// A password reset's, by its reset token.
    Reset,
    /// A client's check of its subject (this account), by its challenge id: a challenge of
    /// another subject, another purpose or none at all is `not_found` alike.
    Client(AccountId),
}

/// The live challenge a token names, when it is one the caller may answer; anything else is
/// `mfa_token_invalid`, whatever the reason (for a client's check: `not_found` when it is not
/// that subject's, `mfa_token_invalid` once it is spent, expired or dead).
pub async fn pending(ctx: &Context, token: &Secret, answering: Answering) -> DomainResult<Pending> {
    // a client's subject is named in its path: someone else's challenge is not there
    let unknown = match answering {
        Answering::Client(_) => DomainError::NotFound,
        _ => DomainError::MfaTokenInvalid,
    };
    if token.expose().len() > 128 {
        return Err(unknown);
    }
    let hash = ctx.keys.hasher().hash_token(token);
    let Some((record, account)) = ctx.store.challenge_with_account(&hash.0).await? else {
        return Err(unknown);
    };
    let Some(purpose) = Purpose::of(&record) else {
        return Err(unknown);
    };
    let answerable = match (answering, &purpose) {
        (Answering::SignIn, Purpose::Login | Purpose::EmailCheck)
        | (Answering::Reset, Purpose::Reset) => true,
        (Answering::SignInApi, Purpose::Login | Purpose::EmailCheck) => {
            account.subject_of.is_none()
        }
        (Answering::StepUp(session), Purpose::StepUp(_)) => record.session_id == Some(session),
        (Answering::Client(subject), Purpose::ForClient(_)) => record.account_id == subject,
        _ => false,
    };
    if !answerable {
        return Err(unknown);
    }
    if !is_live(ctx, &record) {
        return Err(DomainError::MfaTokenInvalid);
    }
    Ok(Pending {
        record,
        purpose,
        account,
    })
}

/// True when the challenge can still take a code.
pub fn is_live(ctx: &Context, c: &ChallengeRecord) -> bool {
    c.consumed_at.is_none()
        && ctx.clock.now() < c.expires_at
        && c.failures < ctx.policy.get().lockout.token_max_failures
}

/// The methods a pending challenge can be answered with, as offered to the person.
pub async fn choices(ctx: &Context, pending: &Pending) -> DomainResult<Vec<MethodRecord>> {
    let stored = ctx.store.methods_of(pending.account.id).await?;
    Ok(pending.purpose.choices(ctx, &pending.account, stored))
}

/// The methods that can answer a challenge: the account's, or for an email check its verified
/// address alone.
pub fn answering_methods(
    purpose: &Purpose,
    account: &Account,
    stored: Vec<MethodRecord>,
) -> Vec<MethodRecord> {
    match purpose {
        Purpose::EmailCheck => vec![risk::email_check_method(account)],
        Purpose::Login | Purpose::StepUp(_) | Purpose::Reset | Purpose::ForClient(_) => stored,
    }
}

/// What a send step did: where the code went (masked) and when another may be asked for.
pub struct CodeSent {
    pub sent_to: String,
    pub resend_after: i64,
}

/// What the send step of a challenge did.
pub enum Challenged {
    /// A code went out.
    Sent(CodeSent),
    /// WebAuthn request options (PublicKeyCredentialRequestOptionsJSON) for the client.
    WebAuthn(serde_json::Value),
    /// A push request for the approver; the number goes on the requesting screen.
    Push(crate::push::PushSent),
}

/// The send step as a client asks for it, with the token it holds and the method it picked.
pub async fn send_for_token(
    ctx: &Context,
    client: &ClientInfo,
    token: &Secret,
    answering: Answering,
    method_id: MethodId,
) -> DomainResult<Challenged> {
    send(
        ctx,
        client,
        &pending(ctx, token, answering).await?,
        method_id,
    )
    .await
}

/// The send step: a fresh code by email, SMS or voice for the named method, within the resend
/// limits, or WebAuthn request options for a security key. TOTP and recovery codes need
/// nothing sent (400). Nothing is sent while the account's second-factor checks are locked or
/// the method is disabled.
pub async fn send(
    ctx: &Context,
    client: &ClientInfo,
    pending: &Pending,
    method_id: MethodId,
) -> DomainResult<Challenged> {
    let Pending {
        record: challenge,
        purpose,
        account,
    } = pending;
    if !is_live(ctx, challenge) {
        return Err(DomainError::MfaTokenInvalid);
    }
    let stored = ctx.store.methods_of(account.id).await?;
    let methods = answering_methods(purpose, account, stored);
    let method = methods
        .iter()
        .find(|m| m.id == method_id && m.confirmed_at.is_some())
        .ok_or_else(|| DomainError::InvalidRequest("no such method for this challenge".into()))?;
    let to = match method.kind {
        MethodKind::WebAuthn | MethodKind::Push => None,
        _ => Some(destination_of(account, method)?),
    };
    purpose.admits(ctx, method.kind, &methods)?;
    let now = ctx.clock.now();
    let (key, policy) = failure_bucket(ctx, account, method.kind);
    if let Some(retry_after) = lock_wait(ctx, &key, &policy).await? {
        return Err(DomainError::MfaLocked { retry_after });
    }
    if let AuthenticatorGate::Disabled = authenticator_gate(
        method.consecutive_failures,
        method.last_failure_at,
        ctx.policy.get().lockout.authenticator_max_failures,
        now,
    ) {
        return Err(DomainError::AuthenticatorDisabled);
    }
    if method.kind == MethodKind::Push {
        let (name, action) = purpose.for_approver();
        let asked = crate::push::Asked {
            challenge,
            purpose: name,
            action,
        };
        let sent = crate::push::request(ctx, client, account, asked, method).await?;
        return Ok(Challenged::Push(sent));
    }
    let Some(to) = to else {
        let options =
            crate::webauthn::start_second_factor(ctx, account, challenge, &methods).await?;
        return Ok(Challenged::WebAuthn(options));
    };
    let what = challenge_code(method.id, challenge);
    codes::send(ctx, client, account, &what, &to).await??;
    Ok(Challenged::Sent(CodeSent {
        sent_to: to.masked(),
        resend_after: ctx.config.codes.resend_after_seconds,
    }))
}

/// What a second-factor code sent for `challenge` through `method` is bound to: that method
/// and that challenge, so it serves no other sign-in.
pub fn challenge_code(method: MethodId, challenge: &ChallengeRecord) -> CodeFor {
    let token: String = challenge
        .token_hash
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    CodeFor {
        purpose: CodePurpose::SecondFactor,
        scope: Some(format!("{method}:{token}")),
    }
}

/// Where a sent-code method delivers.
pub fn destination_of(account: &Account, method: &MethodRecord) -> DomainResult<Destination> {
    let phone = || {
        method
            .destination
            .clone()
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("phone method without a number")))
    };
    Ok(match method.kind {
        // only to a proven address: a subject's product may state a new one, unproven, after
        // the method was set up (an account of ours proves every address it takes)
        MethodKind::Email if !(account.email_verified && account.has_email()) => {
            return Err(DomainError::EmailUnverified)
        }
        MethodKind::Email => Destination::email(account),
        MethodKind::Sms => Destination {
            medium: Medium::Sms,
            address: phone()?,
        },
        MethodKind::Voice => Destination {
            medium: Medium::Voice,
            address: phone()?,
        },
        MethodKind::Totp | MethodKind::RecoveryCode | MethodKind::WebAuthn | MethodKind::Push => {
            return Err(DomainError::InvalidRequest(format!(
                "nothing to send for a {} method: enter its code",
                method.kind.as_str()
            )))
        }
    })
}

/// Seconds until the bucket's lock opens, or None when it is open.
pub async fn lock_wait(
    ctx: &Context,
    key: &str,
    policy: &ThrottlePolicy,
) -> DomainResult<Option<i64>> {
    let now = ctx.clock.now();
    let seen = ctx
        .store
        .failure_window(key, policy.window_start(now))
        .await?;
    Ok(match policy.check(seen, now) {
        Err(CoreError::Throttled(wait)) => Some(retry_after_seconds(wait)),
        _ => None,
    })
}
