//! Step-up: a fresh check before a sensitive action (RFC 9470). A satisfied check leaves a
//! grant on the session: spent by one use, or open for a window that is fixed or slides.

use crate::attempts::{self, Bucket};
use crate::challenge::{self, Answering, Purpose};
use crate::client::{Actor, ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factors::{self, FactorInput};
use crate::jwt::{self, StepUpClaims};
use crate::methods;
use deadbolt_core::account::Account;
use deadbolt_core::auth::{self, AuthMethod};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::GrantId;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::{Action, StepUpRule};
use deadbolt_store::{BatchOutcome, GrantRecord, MethodRecord, Write};
use serde_json::json;
use time::OffsetDateTime;

/// How long a grant for an action lasts, by the policy in force.
fn rule_for(ctx: &Context, action: &Action) -> StepUpRule {
    ctx.policy.get().step_up.rule_for(action).timing()
}

/// The use of the caller's open grant for an action: committed with the action's own writes,
/// so a grant is spent only by an action that happens (a busy hash pool or a failed guard leaves
/// it open).
pub struct GrantUse {
    write: Write,
    action: String,
    target: Option<String>,
}

/// The caller's open grant for `action`, or 401 `insufficient_user_authentication`.
pub async fn require(ctx: &Context, who: &Principal, action: &str) -> DomainResult<GrantUse> {
    require_on(ctx, who, action, None).await
}

/// The caller's open grant for `action` on `target` (a grant for another target, or none, does
/// not serve), or 401 `insufficient_user_authentication` naming both.
pub async fn require_on(
    ctx: &Context,
    who: &Principal,
    action: &str,
    target: Option<&str>,
) -> DomainResult<GrantUse> {
    let now = ctx.clock.now();
    let needed = || DomainError::StepUpRequired {
        action: action.to_owned(),
        target: target.map(str::to_owned),
    };
    let Some(grant) = ctx
        .store
        .open_grant(who.session.id, action, target, now)
        .await?
    else {
        return Err(needed());
    };
    let next = grant.after_use(now);
    Ok(GrantUse {
        write: grant.use_write(now, next),
        action: action.to_owned(),
        target: grant.target,
    })
}

/// For what outlives the session (a first second factor, an API key): nothing more while the
/// session's last password or factor check (its sign-in, or a step-up) is recent; otherwise the
/// caller's open grant for `action`, or 401 `insufficient_user_authentication`.
pub async fn require_recent(
    ctx: &Context,
    who: &Principal,
    action: &str,
) -> DomainResult<Option<GrantUse>> {
    // an open grant is spent either way: left open, a password-only grant would outlive the
    // factor this request may turn on
    match require(ctx, who, action).await {
        Ok(grant) => return Ok(Some(grant)),
        Err(DomainError::StepUpRequired { .. }) => {}
        Err(e) => return Err(e),
    }
    let now = ctx.clock.now();
    let policy = ctx.config.session;
    if policy.is_recent(who.session.auth_time, now) {
        return Ok(None);
    }
    let stepped_up = ctx.store.last_step_up_check(who.session.id).await?;
    if stepped_up.is_some_and(|at| policy.is_recent(at, now)) {
        return Ok(None);
    }
    Err(DomainError::StepUpRequired {
        action: action.to_owned(),
        target: None,
    })
}

/// The grant `actor` needs for `action`: a session's open grant (else 401
/// `insufficient_user_authentication`); nothing of a client acting on its own credentials
/// (see [`Actor`]).
pub async fn require_for(
    ctx: &Context,
    actor: Actor<'_>,
    action: &str,
) -> DomainResult<Option<GrantUse>> {
    match actor {
        Actor::Session(who) => require(ctx, who, action).await.map(Some),
        Actor::Client(_) => Ok(None),
    }
}

/// As [`require_recent`] for a session; nothing of a client acting on its own credentials.
pub async fn require_recent_for(
    ctx: &Context,
    actor: Actor<'_>,
    action: &str,
) -> DomainResult<Option<GrantUse>> {
    match actor {
        Actor::Session(who) => require_recent(ctx, who, action).await,
        Actor::Client(_) => Ok(None),
    }
}

/// Commits `writes` with the use of `grant` (when there is one) first. The outcome's guard
/// indexes are those of `writes`.
pub async fn commit_with(
    ctx: &Context,
    grant: Option<GrantUse>,
    writes: Vec<Write>,
) -> DomainResult<BatchOutcome> {
    let Some(grant) = grant else {
        return Ok(ctx.commit(writes).await?);
    };
    let mut all = vec![grant.write];
    all.extend(writes);
    match ctx.commit(all).await? {
        BatchOutcome::Committed => Ok(BatchOutcome::Committed),
        BatchOutcome::GuardFailed(0) => Err(DomainError::StepUpRequired {
            action: grant.action,
            target: grant.target,
        }),
        BatchOutcome::GuardFailed(i) => Ok(BatchOutcome::GuardFailed(i - 1)),
    }
}

/// Checks the account's password for a step-up or a password change. The guess is counted
/// in the account's step-up password bucket before it is hashed and given back when right, so
/// that parallel guesses cannot pass a limit that each of them read as open; past the limit:
/// 429 `mfa_locked`. A place in the hash pool is taken first, so a full pool (503) costs no
/// guess.
pub(crate) async fn check_password(
    ctx: &Context,
    account: &Account,
    password: Secret,
) -> DomainResult<bool> {
    let slot = ctx.hash_pool.reserve()?;
    let bucket = Bucket {
        key: format!("stepup:password:{}", account.id),
        policy: ctx.policy.get().lockout.account_throttle(),
    };
    let reserved = attempts::reserve(ctx, vec![bucket])
        .await?
        .map_err(|full| DomainError::MfaLocked {
            retry_after: full.retry_after,
        })?;
    let hasher = ctx.passwords.clone();
    let stored = account.password_hash.clone();
    ctx.metrics.password_verifications.inc();
    let matched = slot
        .run(move || hasher.verify(&password, stored.as_ref()))
        .await?;
    if matched {
        reserved.give_back_now(ctx).await?;
    } else {
        reserved.keep();
    }
    Ok(matched)
}

/// What `POST /v1/step-up` answers.
pub enum Begin {
    Satisfied {
        action: Action,
        step_up_token: String,
        expires_at: OffsetDateTime,
    },
    Challenge {
        challenge_token: Secret,
        methods: Vec<MethodRecord>,
        password: bool,
    },
}

/// Opens a step-up for `action` (on `target`, when the action names one thing), or says that
/// an open grant already serves.
pub async fn begin(
    ctx: &Context,
    who: &Principal,
    action: Action,
    target: Option<String>,
) -> DomainResult<Begin> {
    let now = ctx.clock.now();
    if let Some(mut grant) = ctx
        .store
        .open_grant(who.session.id, action.as_str(), target.as_deref(), now)
        .await?
    {
        // Asking again counts as a use: a sliding window moves forward. A one-shot grant is not
        // spent by asking; the guarded call (or the app, by the token's jti) spends it.
        if let (false, Some(_)) = (grant.one_shot, grant.sliding_seconds) {
            if let Some(until) = grant.after_use(now) {
                if ctx.store.use_grant(grant.id, now, Some(until)).await? {
                    grant.expires_at = until;
                }
            }
        }
        let step_up_token = token_for(ctx, who, &grant)?;
        return Ok(Begin::Satisfied {
            action,
            step_up_token,
            expires_at: grant.expires_at,
        });
    }
    let account = crate::sessions::account_of(ctx, who).await?;
    let (methods, password) = offered(ctx, &account, &action, who.session.id).await?;
    let (challenge_token, mut challenge) =
        challenge::open(ctx, &account, Purpose::StepUp(action), Some(who.session.id));
    challenge.target = target;
    ctx.commit(vec![challenge.insert()]).await?;
    Ok(Begin::Challenge {
        challenge_token,
        methods: if password { vec![] } else { methods },
        password,
    })
}

/// The methods that can satisfy `action` for `account` stepping up `session` (primary first),
/// and whether the account has none, so that its password serves instead. A push method whose
/// approver is that very session is not among them.
pub async fn offered(
    ctx: &Context,
    account: &deadbolt_core::account::Account,
    action: &Action,
    session: deadbolt_core::ids::SessionId,
) -> DomainResult<(Vec<MethodRecord>, bool)> {
    let all_methods = ctx.store.methods_of(account.id).await?;
    let password = !methods::is_enabled(&all_methods);
    let mut methods = Vec::new();
    for m in Purpose::StepUp(action.clone()).choices(ctx, account, all_methods) {
        if m.kind != deadbolt_core::mfa::MethodKind::Push
            || crate::push::serves_step_up_of(ctx, m.id, session).await?
        {
            methods.push(m);
        }
    }
    Ok((methods, password))
}

/// Whether the caller's session holds an open grant for `action` (on `target`), without
/// using it: the hosted forms ask first, so that nobody types a new password twice.
pub async fn has_open_grant(
    ctx: &Context,
    who: &Principal,
    action: &str,
    target: Option<&str>,
) -> DomainResult<bool> {
    let now = ctx.clock.now();
    let grant = ctx
        .store
        .open_grant(who.session.id, action, target, now)
        .await?;
    Ok(grant.is_some())
}

/// A step-up answer: a second factor, or the password for an account without MFA.
pub enum StepUpFactor {
    Factor(FactorInput),
    Password(Secret),
}

pub struct Satisfied {
    pub action: Action,
    pub step_up_token: String,
    pub expires_at: OffsetDateTime,
}

pub async fn verify(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    challenge_token: Secret,
    answer: StepUpFactor,
) -> DomainResult<Satisfied> {
    let now = ctx.clock.now();
    let pending =
        challenge::pending(ctx, &challenge_token, Answering::StepUp(who.session.id)).await?;
    let Purpose::StepUp(action) = pending.purpose() else {
        return Err(DomainError::MfaTokenInvalid);
    };
    let (challenge, account) = (pending.record(), pending.account());
    let rule = rule_for(ctx, action);
    let make_grant = |methods: &[AuthMethod]| GrantRecord {
        id: GrantId::generate(ctx.rng.as_ref()),
        session_id: who.session.id,
        action: action.as_str().to_owned(),
        target: challenge.target.clone(),
        expires_at: rule.expires_at(now),
        one_shot: rule.is_one_shot(),
        sliding_seconds: if rule.sliding {
            rule.window_seconds
        } else {
            None
        },
        used_at: None,
        auth_time: now,
        amr: auth::amr(methods),
        acr: auth::acr(methods).to_owned(),
    };
    let grant = match answer {
        StepUpFactor::Factor(input) => {
            let proof = factors::check(ctx, client, &pending, input).await?;
            let grant = make_grant(&[AuthMethod::Password, proof.auth]);
            let done = event(
                ctx,
                EventKind::StepUpSucceeded,
                Some(account.id),
                client,
                json!({"action": action.as_str(), "method_id": proof.method.id}),
            );
            factors::finish(
                ctx,
                client,
                &pending,
                proof,
                vec![grant.insert(), done.write()],
            )
            .await?;
            grant
        }
        StepUpFactor::Password(password) => {
            if methods::is_enabled(&ctx.store.methods_of(account.id).await?) {
                return Err(DomainError::InvalidRequest(
                    "this account has a second factor: step up with it".into(),
                ));
            }
            let matched = check_password(ctx, account, password).await?;
            if !matched {
                let failures = ctx.store.challenge_failed(&challenge.token_hash).await?;
                let e = event(
                    ctx,
                    EventKind::StepUpFailed,
                    Some(account.id),
                    client,
                    json!({"action": action.as_str(), "type": "password"}),
                );
                ctx.store.record_event(e).await?;
                return Err(DomainError::WrongSecondFactor {
                    attempts_remaining: ctx
                        .policy
                        .get()
                        .lockout
                        .token_max_failures
                        .saturating_sub(failures),
                });
            }
            let grant = make_grant(&[AuthMethod::Password]);
            let done = event(
                ctx,
                EventKind::StepUpSucceeded,
                Some(account.id),
                client,
                json!({"action": action.as_str(), "type": "password"}),
            );
            let writes = vec![
                challenge.consume(now, ctx.policy.get().lockout.token_max_failures),
                grant.insert(),
                done.write(),
            ];
            if let deadbolt_store::BatchOutcome::GuardFailed(_) = ctx.commit(writes).await? {
                return Err(DomainError::MfaTokenInvalid);
            }
            grant
        }
    };
    let step_up_token = token_for(ctx, who, &grant)?;
    Ok(Satisfied {
        action: action.clone(),
        step_up_token,
        expires_at: grant.expires_at,
    })
}

fn token_for(ctx: &Context, who: &Principal, grant: &GrantRecord) -> DomainResult<String> {
    let url = &ctx.config.server.public_url;
    let claims = StepUpClaims {
        iss: url.clone(),
        aud: jwt::step_up_audience(url),
        sub: who.session.account_id,
        sid: who.session.id,
        action: grant.action.clone(),
        iat: ctx.clock.now().unix_timestamp(),
        exp: grant.expires_at.unix_timestamp(),
        // the grant's id: an app that spends one-shot tokens by jti spends the grant once
        jti: grant.id.0,
        auth_time: grant.auth_time.unix_timestamp(),
        amr: grant.amr.clone(),
        acr: grant.acr.clone(),
        target: grant.target.clone(),
    };
    jwt::sign_step_up(&ctx.keys, &claims)
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("signing: {e}")))
}
