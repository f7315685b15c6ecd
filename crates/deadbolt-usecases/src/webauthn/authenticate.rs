//! Signing in with a security key or passkey: request options for a second-factor challenge or
//! a passkey sign-in, then the assertion checked against the stored credential and its counter.

use super::{
    ceremony, challenge_hex, descriptor, internal, live, origins, parse_assertion,
    parse_passkey_assertion, received_count, rp_id, stored, timeout, user_handle, user_verified,
    PASSKEY, SECOND_FACTOR,
};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_core::account::Account;
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, MethodId};
use deadbolt_core::webauthn::{self as rules};
use deadbolt_store::{
    CeremonyRecord, ChallengeRecord, MethodRecord, WebauthnCredentialRecord, Write,
};
use serde_json::{json, Value};
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredentials, AuthenticationVerificationOptions, DiscoverableCredentialRequestOptions,
    NonDiscoverableCredentialRequestOptions, SignatureCounterEnforcement,
};
use webauthn_rp::request::{Credentials, DomainOrigin, TimedCeremony};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::Backup;
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    NonDiscoverableAuthenticationServerState,
};

/// What a verified assertion changes.
pub struct Verified {
    pub auth: AuthMethod,
    pub method_id: MethodId,
    pub writes: Vec<Write>,
}

/// A refused assertion: the writes that record it (the ceremony spent, and for a counter that
/// went backwards, an event and a mail), for the caller to commit with its failure count.
pub struct Refused {
    pub writes: Vec<Write>,
}

/// The failure a verification error is: `Ok(refused)` for a failed assertion to count,
/// `Err` for an answer of its own (an expired ceremony, a wrong origin where allowed to say).
#[allow(clippy::too_many_arguments)]
fn refusal(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    ceremony: &CeremonyRecord,
    method: MethodId,
    err: AuthCeremonyErr,
    stored_count: u32,
    received_count: u32,
) -> DomainResult<Refused> {
    let now = ctx.clock.now();
    let mut writes = vec![ceremony.spoil(now)];
    match err {
        AuthCeremonyErr::Timeout => return Err(DomainError::CeremonyExpired),
        AuthCeremonyErr::SignatureCounter => {
            debug_assert!(rules::sign_count_regressed(stored_count, received_count));
            writes.push(
                event(
                    ctx,
                    EventKind::WebauthnSignCountRegressed,
                    Some(account.id),
                    client,
                    json!({"method_id": method, "stored": stored_count, "received": received_count}),
                )
                .write(),
            );
            writes.extend(
                notice(ctx, account, Notice::AuthenticatorCloned, client)?.map(|m| m.write()),
            );
        }
        other => tracing::info!(error = ?other, method_id = %method, "webauthn assertion refused"),
    }
    Ok(Refused { writes })
}

/// The method of `account` a second-factor assertion's credential belongs to. A malformed
/// credential is 400 `invalid_credential`; one that is not this account's (or not the named
/// method's) is 400 `unknown_credential`.
pub async fn method_of(
    ctx: &Context,
    account: AccountId,
    credential: &Value,
    named: Option<MethodId>,
) -> DomainResult<MethodId> {
    let (assertion, _) = parse_assertion(credential)?;
    let record = ctx
        .store
        .webauthn_credential(assertion.raw_id().as_ref())
        .await?
        .filter(|c| c.account_id == account && named.is_none_or(|m| m == c.method_id))
        .ok_or(DomainError::UnknownCredential)?;
    Ok(record.method_id)
}

/// Request options for a second-factor challenge (login, step-up, reset): any of the
/// account's active security keys may answer. The ceremony is bound to that challenge.
pub async fn start_second_factor(
    ctx: &Context,
    account: &Account,
    challenge: &ChallengeRecord,
    methods: &[MethodRecord],
) -> DomainResult<Value> {
    let rp = rp_id(ctx)?;
    let active: Vec<MethodId> = methods
        .iter()
        .filter(|m| m.kind == deadbolt_core::mfa::MethodKind::WebAuthn && m.is_active())
        .map(|m| m.id)
        .collect();
    let creds = ctx.store.webauthn_credentials_of(account.id).await?;
    let mut allowed = AllowedCredentials::with_capacity(creds.len());
    for c in creds.iter().filter(|c| active.contains(&c.method_id)) {
        allowed.push(descriptor(c)?.into());
    }
    let mut options = NonDiscoverableCredentialRequestOptions::second_factor(&rp, allowed)
        .map_err(|_| {
            DomainError::InvalidRequest("this account has no usable security key".into())
        })?;
    options.options().timeout = timeout(ctx).0;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| internal("request options", e))?;
    let public_key = serde_json::to_value(&client).map_err(|e| internal("options", e))?;
    let encoded = server.encode().map_err(|e| internal("server state", e))?;
    let mut record = ceremony(ctx, SECOND_FACTOR, server.sent_challenge(), encoded);
    record.account_id = Some(account.id);
    record.challenge_hash = Some(challenge.token_hash.clone());
    ctx.commit(vec![record.insert()]).await?;
    Ok(public_key)
}

/// Checks a second-factor assertion for `challenge` against `method`'s credential. `Ok(Ok)`:
/// verified, with the writes that spend it; `Ok(Err)`: a failed assertion (wrong signature,
/// origin, replayed challenge, counter gone backwards) to count as a wrong code; `Err`: an
/// answer of its own (malformed, expired ceremony, unknown credential).
pub async fn check_second_factor(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    challenge: &ChallengeRecord,
    method: &MethodRecord,
    credential: &Value,
) -> DomainResult<Result<Verified, Refused>> {
    let (assertion, sent) = parse_assertion(credential)?;
    let now = ctx.clock.now();
    let found = ctx
        .store
        .ceremony_by_challenge(&challenge_hex(sent))
        .await?
        .filter(|c| {
            c.kind == SECOND_FACTOR
                && c.account_id == Some(account.id)
                && c.challenge_hash.as_deref() == Some(challenge.token_hash.as_slice())
        });
    let ceremony = match found {
        // a challenge that was never ours for this sign-in, or was already answered: a replay
        None => return Ok(Err(Refused { writes: vec![] })),
        Some(c) if c.consumed_at.is_some() => return Ok(Err(Refused { writes: vec![] })),
        Some(c) if now >= c.expires_at => return Err(DomainError::CeremonyExpired),
        Some(c) => c,
    };
    let record = ctx
        .store
        .webauthn_credential(assertion.raw_id().as_ref())
        .await?
        .filter(|c| c.account_id == account.id && c.method_id == method.id)
        .ok_or(DomainError::UnknownCredential)?;
    let stored = stored(record)?;
    let handle = user_handle(ctx, account.id).await?;
    let mut cred = AuthenticatedCredential::new(
        assertion.raw_id(),
        &handle,
        stored.static_state,
        stored.dynamic_state,
    )
    .map_err(|e| internal("stored credential", e))?;
    let server = NonDiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
        .map_err(|e| internal("stored ceremony", e))?;
    let rp = rp_id(ctx)?;
    let allowed = origins(&ctx.config.webauthn)?;
    let options = AuthenticationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &allowed,
        update_uv: true,
        sig_counter_enforcement: SignatureCounterEnforcement::Fail,
        ..AuthenticationVerificationOptions::default()
    };
    let received = received_count(assertion.response().authenticator_data());
    match server.verify(&rp, &assertion, &mut cred, &options) {
        Ok(_) => {
            let uv = user_verified(assertion.response().authenticator_data());
            let dynamic = cred.dynamic_state();
            let writes = vec![
                ceremony.consume(now),
                stored.record.used(
                    dynamic
                        .encode()
                        .map_err(|e| internal("dynamic state", e))?
                        .to_vec(),
                    dynamic.sign_count,
                    matches!(dynamic.backup, Backup::Exists),
                    now,
                ),
            ];
            Ok(Ok(Verified {
                auth: rules::auth_method(stored.record.backup_eligible, uv),
                method_id: method.id,
                writes,
            }))
        }
        Err(e) => refusal(
            ctx,
            client,
            account,
            &ceremony,
            method.id,
            e,
            stored.record.sign_count,
            received,
        )
        .map(Err),
    }
}

/// Options for a usernameless sign-in: no credentials listed (the authenticator offers its
/// discoverable ones), user verification required.
pub async fn start_passkey(ctx: &Context) -> DomainResult<(uuid::Uuid, Value)> {
    let rp = rp_id(ctx)?;
    let mut options = DiscoverableCredentialRequestOptions::passkey(&rp);
    options.0.timeout = timeout(ctx).0;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| internal("request options", e))?;
    let public_key = serde_json::to_value(&client).map_err(|e| internal("options", e))?;
    let encoded = server.encode().map_err(|e| internal("server state", e))?;
    let record = ceremony(ctx, PASSKEY, server.sent_challenge(), encoded);
    ctx.commit(vec![record.insert()]).await?;
    Ok((record.id, public_key))
}

/// A passkey assertion that names its account through its credential and user handle.
pub struct PasskeyAssertion {
    assertion: DiscoverableAuthentication16,
    ceremony: CeremonyRecord,
    pub record: WebauthnCredentialRecord,
}

/// Parses a passkey sign-in's credential and finds its ceremony and stored credential.
pub async fn passkey_assertion(
    ctx: &Context,
    challenge_id: uuid::Uuid,
    credential: &Value,
) -> DomainResult<PasskeyAssertion> {
    let assertion = parse_passkey_assertion(credential)?;
    let ceremony = live(ctx, ctx.store.ceremony(challenge_id).await?, PASSKEY)?;
    let record = ctx
        .store
        .webauthn_credential(assertion.raw_id().as_ref())
        .await?
        .ok_or(DomainError::UnknownCredential)?;
    Ok(PasskeyAssertion {
        assertion,
        ceremony,
        record,
    })
}

/// Verifies a passkey sign-in for `account` (the credential's): user verification required.
pub async fn check_passkey(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    found: PasskeyAssertion,
) -> DomainResult<Result<Verified, Refused>> {
    let PasskeyAssertion {
        assertion,
        ceremony,
        record,
    } = found;
    let now = ctx.clock.now();
    let handle = user_handle(ctx, account.id).await?;
    if assertion.response().user_handle() != &handle {
        return Err(DomainError::UnknownCredential);
    }
    let method = record.method_id;
    let stored = stored(record)?;
    let mut cred = AuthenticatedCredential::new(
        assertion.raw_id(),
        &handle,
        stored.static_state,
        stored.dynamic_state,
    )
    .map_err(|e| internal("stored credential", e))?;
    let server = DiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
        .map_err(|e| internal("stored ceremony", e))?;
    let rp = rp_id(ctx)?;
    let allowed = origins(&ctx.config.webauthn)?;
    let options = AuthenticationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &allowed,
        update_uv: true,
        sig_counter_enforcement: SignatureCounterEnforcement::Fail,
        ..AuthenticationVerificationOptions::default()
    };
    let received = received_count(assertion.response().authenticator_data());
    match server.verify(&rp, &assertion, &mut cred, &options) {
        Ok(_) => {
            let dynamic = cred.dynamic_state();
            let writes = vec![
                ceremony.consume(now),
                stored.record.used(
                    dynamic
                        .encode()
                        .map_err(|e| internal("dynamic state", e))?
                        .to_vec(),
                    dynamic.sign_count,
                    matches!(dynamic.backup, Backup::Exists),
                    now,
                ),
            ];
            Ok(Ok(Verified {
                // verification passed with user verification required: UV was performed
                auth: rules::auth_method(stored.record.backup_eligible, true),
                method_id: method,
                writes,
            }))
        }
        Err(
            AuthCeremonyErr::OriginMismatch
            | AuthCeremonyErr::CrossOrigin
            | AuthCeremonyErr::TopOriginMismatch,
        ) => {
            ctx.commit(vec![ceremony.spoil(now)]).await?;
            Err(DomainError::WrongOrigin)
        }
        Err(e) => refusal(
            ctx,
            client,
            account,
            &ceremony,
            method,
            e,
            stored.record.sign_count,
            received,
        )
        .map(Err),
    }
}
