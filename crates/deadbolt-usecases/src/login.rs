//! Password login. A closed throttle answers before any hashing; an unknown email costs one
//! Argon2 verification like a wrong password, and both answer alike.

use crate::attempts::{self, Bucket};
use crate::challenge::{self, Purpose};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::methods;
use crate::sessions::{self, IssuedTokens};
use crate::{devices, mfa, risk};
use deadbolt_core::account::Account;
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::risk::{next_step, NextStep, RiskResponse};
use deadbolt_core::secret::Secret;
use deadbolt_core::throttle::ThrottlePolicy;
use deadbolt_store::{throttle_writes, MethodRecord};
use serde_json::json;
use time::Duration;

pub struct Login {
    pub email: String,
    pub password: Secret,
    pub device_token: Option<Secret>,
}

/// What a correct password leads to.
pub enum LoginOutcome {
    /// No second factor needed (none enrolled, or a trusted device).
    SignedIn(IssuedTokens),
    /// A second factor is needed: the mfa_token and the methods that can serve.
    MfaRequired {
        mfa_token: Secret,
        expires_in: i64,
        methods: Vec<MethodRecord>,
        /// Why a second factor is asked for when risk called for it.
        reason: Option<&'static str>,
    },
}

/// The failure bucket of logins as `email` (public for the fuzz targets: however an address is
/// typed, it must land in one bucket).
pub fn email_bucket(ctx: &Context, email: &str) -> String {
    let normalised =
        Email::parse(email).map_or_else(|_| email.trim().to_lowercase(), |e| e.as_str().to_owned());
    let email_key = ctx
        .keys
        .hasher()
        .hash(&[b"login-email", normalised.as_bytes()])
        .to_hex();
    format!("login:email:{email_key}")
}

/// The throttle buckets of a login attempt, the email's first. The email key is derived from
/// the normalised address as typed, not the account id, so unknown emails are throttled exactly
/// like known ones; it is a keyed hash, so the table holds no addresses (nor whatever else
/// people type into the email field).
fn throttles(ctx: &Context, email_key: &str, client: &ClientInfo) -> Vec<Bucket> {
    let limits = &ctx.config.limits;
    let window = Duration::seconds(limits.login_window_seconds);
    let mut buckets = vec![Bucket {
        key: email_key.to_owned(),
        policy: ThrottlePolicy {
            max_failures: limits.login_failures_per_account,
            window,
        },
    }];
    if let Some(ip) = client.ip {
        buckets.push(Bucket {
            key: format!("login:ip:{ip}"),
            policy: ThrottlePolicy {
                max_failures: limits.login_failures_per_ip,
                window,
            },
        });
    }
    buckets
}

pub async fn login(ctx: &Context, client: &ClientInfo, input: Login) -> DomainResult<LoginOutcome> {
    // A place in the hash pool first: when it is full, refusing must cost nothing, not even a
    // database query (nor count as a guess).
    let slot = ctx.hash_pool.reserve()?;
    let now = ctx.clock.now();
    let email_key = email_bucket(ctx, &input.email);
    let buckets = throttles(ctx, &email_key, client);
    let window = now - Duration::seconds(ctx.config.limits.login_window_seconds);
    let email = Email::parse(&input.email).ok();
    let account = match &email {
        Some(e) => ctx.store.account_by_email(e).await?,
        None => None,
    };
    let account_id = account.as_ref().map(|a| a.id);

    // the guess counts as a failure before it is judged, so parallel guesses cannot all pass a
    // check that each of them read as open; a right password gives it back
    let reserved = match attempts::reserve(ctx, buckets).await? {
        Ok(reserved) => reserved,
        Err(full) => {
            ctx.metrics.login("throttled");
            let scope = if full.bucket == 0 { "account" } else { "ip" };
            ctx.store
                .record_event(event(
                    ctx,
                    EventKind::LoginThrottled,
                    account_id,
                    client,
                    json!({"scope": scope}),
                ))
                .await?;
            return Err(DomainError::TooManyAttempts {
                retry_after: full.retry_after,
            });
        }
    };

    // an account of an identity provider has no password here (its provider does the second
    // factor too); saying so is the contract, and costs no hash
    if account.as_ref().is_some_and(|a| a.sso_provider.is_some()) {
        // counted like a failure, so that probing is throttled like guessing
        reserved.keep();
        ctx.store
            .record_event(event(
                ctx,
                EventKind::LoginFailed,
                account_id,
                client,
                json!({"reason": "sso_required"}),
            ))
            .await?;
        return Err(DomainError::SsoRequired);
    }
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    let hasher = ctx.passwords.clone();
    ctx.metrics.password_verifications.inc();
    let matched = slot
        .run(move || hasher.verify(&input.password, stored.as_ref()))
        .await?;

    let Some(account) = account.filter(|_| matched) else {
        reserved.keep();
        let reason = if account_id.is_some() {
            "wrong_password"
        } else {
            "unknown_account"
        };
        ctx.store
            .record_event(event(
                ctx,
                EventKind::LoginFailed,
                account_id,
                client,
                json!({"reason": reason}),
            ))
            .await?;
        ctx.metrics.login("failure");
        return Err(DomainError::InvalidCredentials);
    };
    reserved.give_back_now(ctx).await?;
    // wrong passwords for this email lately: a burst of them before a right one is a signal
    let recent_failures = ctx.store.failure_window(&email_key, window).await?.count;
    let first = FirstFactor {
        method: AuthMethod::Password,
        recent_failures,
    };
    after_first_factor(ctx, client, account, first, input.device_token.as_ref()).await
}

/// The first factor of a sign-in, checked: a password here, or what a client checked itself.
pub(crate) struct FirstFactor {
    pub method: AuthMethod,
    /// Wrong passwords for the account's email lately (a risk signal).
    pub recent_failures: u32,
}

/// The first factor an account signs in with: its password, or for a client's subject what
/// that client checked before sending it here.
pub fn first_factor_of(account: &Account) -> AuthMethod {
    if account.subject_of.is_some() {
        AuthMethod::ClientAsserted
    } else {
        AuthMethod::Password
    }
}

/// What a checked first factor leads to: the risk rules, the places the account may sign in
/// from, a trusted device, and then a session or the second step.
pub(crate) async fn after_first_factor(
    ctx: &Context,
    client: &ClientInfo,
    account: Account,
    first: FirstFactor,
    device_token: Option<&Secret>,
) -> DomainResult<LoginOutcome> {
    let recent_failures = first.recent_failures;
    let place = risk::place_of(ctx, client);
    risk::ensure_location_allowed(ctx, client, &account, &place).await?;
    let device = devices::sign_in_device(ctx, client, &account).await;
    let assessment =
        risk::assess(ctx, &account, &place, device.is_known(), recent_failures).await?;
    let risk_event = assessment.event(ctx, client, &account);
    let all_methods = ctx.store.methods_of(account.id).await?;
    let needs_second_factor = methods::is_enabled(&all_methods);
    // a subject without an address of its own has no emailed check to stand in
    let email_proven = account.email_verified && account.has_email();
    let step = match next_step(assessment.response, needs_second_factor, email_proven) {
        // a subject without a factor is sent to set one up (every subject needs one), which
        // asks more of it than an emailed code would
        NextStep::EmailCheck | NextStep::Refuse
            if account.subject_of.is_some()
                && !needs_second_factor
                && assessment.response != RiskResponse::Refuse =>
        {
            NextStep::SignIn
        }
        step => step,
    };
    let trusted = match (step, device_token) {
        (
            NextStep::SecondFactor {
                device_may_stand_in: true,
            },
            Some(t),
        ) => devices::is_trusted(ctx, &account, client, t).await?,
        _ => false,
    };
    let purpose = match step {
        NextStep::Refuse => return Err(risk::refuse(ctx, client, &account, &assessment).await?),
        NextStep::EmailCheck => Some(Purpose::EmailCheck),
        NextStep::SecondFactor { .. } if !trusted => Some(Purpose::Login),
        NextStep::SecondFactor { .. } | NextStep::SignIn => None,
    };
    if let Some(purpose) = purpose {
        let methods = purpose.choices(ctx, &account, all_methods);
        let (mfa_token, challenge) = challenge::open(ctx, &account, purpose, None);
        let mut writes = vec![challenge.insert()];
        writes.extend(risk_event.map(|e| e.write()));
        ctx.commit(writes).await?;
        ctx.metrics.login("mfa_required");
        return Ok(LoginOutcome::MfaRequired {
            mfa_token,
            expires_in: ctx.policy.get().lockout.token_ttl_seconds,
            methods,
            reason: assessment.reason(),
        });
    }
    let methods = [first.method];
    let detail = json!({"amr": deadbolt_core::auth::amr(&methods), "trusted_device": trusted});
    let signed_in = event(
        ctx,
        EventKind::LoginSucceeded,
        Some(account.id),
        client,
        detail,
    );
    // policy requires a second factor this account lacks: a session that can only enroll one
    let enrollment_only = !needs_second_factor && mfa::required_by_policy(ctx, &account);
    let mut writes = device.writes(ctx, &account);
    writes.extend(risk::sign_in_writes(ctx, client, &account));
    // The per-account limit counts consecutive failures: a completed sign-in starts it afresh
    // (a right password alone does not: the failures before it stay a burst until then).
    if recent_failures > 0 {
        writes.push(throttle_writes::clear_failures(&email_bucket(
            ctx,
            account.email.as_str(),
        )));
    }
    let tokens = sessions::start(
        ctx,
        client,
        &account,
        &methods,
        [signed_in].into_iter().chain(risk_event).collect(),
        writes,
        enrollment_only,
    )
    .await?;
    device.tell_if_new(ctx, client, &account).await;
    ctx.metrics.login("success");
    Ok(LoginOutcome::SignedIn(tokens))
}
