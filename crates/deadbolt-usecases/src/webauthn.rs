//! WebAuthn ceremonies (security keys and passkeys) over `webauthn_rp`: registration of a
//! pending method, assertions as a second factor (login, step-up, reset), and usernameless
//! passkey sign-in. Every ceremony's server state lives in the database (`webauthn_ceremonies`),
//! single use and short-lived, so whichever instance receives the credential can finish it.
//!
//! Everything the client sends is hostile until `webauthn_rp` has verified it: it is parsed
//! with the library's deserialisers, and any failure maps to a problem, never a panic.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_config::WebauthnConfig;
use deadbolt_core::account::Account;
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, MethodId};
use deadbolt_core::webauthn::{self as rules, AttestationPolicy, AttestationRefusal};
use deadbolt_store::{
    CeremonyRecord, ChallengeRecord, MethodRecord, WebauthnCredentialRecord, Write,
};
use serde_json::{json, Value};
use std::num::NonZeroU32;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredentials, AuthenticationVerificationOptions, DiscoverableCredentialRequestOptions,
    NonDiscoverableCredentialRequestOptions, SignatureCounterEnforcement,
};
use webauthn_rp::request::register::{
    AuthenticatorAttachmentReq, AuthenticatorSelectionCriteria, CredProtect,
    PublicKeyCredentialUserEntity, RegistrationVerificationOptions, ResidentKeyRequirement,
    UserHandle, Username,
};
use webauthn_rp::request::{
    AsciiDomain, Credentials, DomainOrigin, ExtensionReq, PublicKeyCredentialDescriptor, RpId,
    TimedCeremony, UserVerificationRequirement,
};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::register::error::RegCeremonyErr;
use webauthn_rp::response::register::{Attestation, CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, Backup, CredentialId, SentChallenge};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    NonDiscoverableAuthentication16, NonDiscoverableAuthenticationServerState,
    PublicKeyCredentialCreationOptions, Registration, RegistrationServerState,
};

/// User handles are 16 random bytes: unique enough, and nothing about the account.
const HANDLE_LEN: usize = 16;
type Handle = UserHandle<HANDLE_LEN>;
type StoredKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

/// The largest credential JSON worth parsing (a registration with an RSA key and extensions
/// is a few kilobytes); the body limit bounds it too.
const MAX_CREDENTIAL_JSON: usize = 32 * 1024;

const REGISTER: &str = "register";
const SECOND_FACTOR: &str = "second_factor";
const PASSKEY: &str = "passkey";

fn rp_id(state: &Context) -> DomainResult<RpId> {
    rp_id_of(&state.config.webauthn)
}

fn rp_id_of(config: &WebauthnConfig) -> DomainResult<RpId> {
    AsciiDomain::try_from(config.rp_id.clone())
        .map(RpId::Domain)
        .map_err(|_| DomainError::Internal(anyhow::anyhow!("[webauthn] rp_id is not a domain")))
}

fn origins(config: &WebauthnConfig) -> DomainResult<Vec<DomainOrigin<'_, '_>>> {
    config
        .origins()
        .into_iter()
        .map(|o| {
            DomainOrigin::try_from(o)
                .map_err(|_| DomainError::Internal(anyhow::anyhow!("[webauthn] bad origin {o:?}")))
        })
        .collect()
}

fn timeout(state: &Context) -> (NonZeroU32, time::Duration) {
    let secs = state
        .config
        .webauthn
        .ceremony_timeout_seconds
        .clamp(10, 3600);
    let millis = u32::try_from(secs * 1000).unwrap_or(300_000);
    (
        NonZeroU32::new(millis).unwrap_or(NonZeroU32::MIN),
        time::Duration::seconds(secs),
    )
}

fn challenge_hex(c: SentChallenge) -> String {
    format!("{:032x}", c.0)
}

fn internal(what: &str, e: impl std::fmt::Debug) -> DomainError {
    DomainError::Internal(anyhow::anyhow!("webauthn {what}: {e:?}"))
}

fn credential_bytes(credential: &Value) -> DomainResult<Vec<u8>> {
    let bytes = serde_json::to_vec(credential)
        .map_err(|_| DomainError::InvalidCredential("`credential` is not JSON".into()))?;
    if bytes.len() > MAX_CREDENTIAL_JSON {
        return Err(DomainError::InvalidCredential(
            "`credential` is too large".into(),
        ));
    }
    Ok(bytes)
}

/// A credential that does not parse; the parser's words are about the client's own input.
fn malformed(what: &str, e: impl std::fmt::Display) -> DomainError {
    let why: String = e.to_string().chars().take(200).collect();
    DomainError::InvalidCredential(format!(
        "`credential` is not a well-formed {what} (WebAuthn Level 3 JSON): {why}"
    ))
}

/// A RegistrationResponseJSON and the challenge its client data names; 400
/// `invalid_credential` when it does not parse. Public, with [`parse_assertion`] and
/// [`parse_passkey_assertion`], so that the fuzz targets feed hostile credentials to the very
/// parse the ceremonies use.
pub fn parse_registration(credential: &Value) -> DomainResult<(Registration, SentChallenge)> {
    let bytes = credential_bytes(credential)?;
    let registration = Registration::from_json_relaxed(&bytes)
        .map_err(|e| malformed("RegistrationResponseJSON", e))?;
    let challenge = registration
        .challenge_relaxed()
        .map_err(|e| malformed("RegistrationResponseJSON", e))?;
    Ok((registration, challenge))
}

/// A second-factor AuthenticationResponseJSON and the challenge its client data names.
pub fn parse_assertion(
    credential: &Value,
) -> DomainResult<(NonDiscoverableAuthentication16, SentChallenge)> {
    let bytes = credential_bytes(credential)?;
    let assertion = NonDiscoverableAuthentication16::from_json_relaxed(&bytes)
        .map_err(|e| malformed("AuthenticationResponseJSON", e))?;
    let sent = assertion
        .challenge_relaxed()
        .map_err(|e| malformed("AuthenticationResponseJSON", e))?;
    Ok((assertion, sent))
}

/// A passkey sign-in's AuthenticationResponseJSON, which must carry a `userHandle`.
pub fn parse_passkey_assertion(credential: &Value) -> DomainResult<DiscoverableAuthentication16> {
    let bytes = credential_bytes(credential)?;
    DiscoverableAuthentication16::from_json_relaxed(&bytes)
        .map_err(|e| malformed("AuthenticationResponseJSON with a userHandle", e))
}

/// A new ceremony row around a server state.
fn ceremony(
    state: &Context,
    kind: &str,
    challenge: SentChallenge,
    server_state: Vec<u8>,
) -> CeremonyRecord {
    let now = state.clock.now();
    CeremonyRecord {
        id: {
            let mut b = [0u8; 16];
            state.rng.fill(&mut b);
            uuid::Builder::from_random_bytes(b).into_uuid()
        },
        challenge: challenge_hex(challenge),
        kind: kind.to_owned(),
        account_id: None,
        method_id: None,
        challenge_hash: None,
        state: server_state,
        created_at: now,
        expires_at: now + timeout(state).1,
        consumed_at: None,
    }
}

/// A ceremony the credential can still finish: present, of `kind`, unspent and unexpired.
fn live(state: &Context, c: Option<CeremonyRecord>, kind: &str) -> DomainResult<CeremonyRecord> {
    let c = c
        .filter(|c| c.kind == kind)
        .ok_or(DomainError::CeremonyExpired)?;
    if c.consumed_at.is_some() || state.clock.now() >= c.expires_at {
        return Err(DomainError::CeremonyExpired);
    }
    Ok(c)
}

async fn user_handle(state: &Context, account: AccountId) -> DomainResult<Handle> {
    let mut fresh = [0u8; HANDLE_LEN];
    state.rng.fill(&mut fresh);
    let stored = state
        .store
        .webauthn_user_handle(account, fresh.to_vec())
        .await?;
    let bytes: [u8; HANDLE_LEN] = stored
        .as_slice()
        .try_into()
        .map_err(|_| DomainError::Internal(anyhow::anyhow!("stored user handle length")))?;
    Handle::decode(bytes).map_err(|e| internal("handle", e))
}

fn descriptor(
    c: &WebauthnCredentialRecord,
) -> DomainResult<PublicKeyCredentialDescriptor<Vec<u8>>> {
    Ok(PublicKeyCredentialDescriptor {
        id: CredentialId::decode(c.credential_id.clone())
            .map_err(|e| internal("stored credential id", e))?,
        transports: AuthTransports::decode(c.transports)
            .map_err(|e| internal("stored transports", e))?,
    })
}

// ---------------------------------------------------------------------------------------------
// Registration

/// Creation options for a pending webauthn method, and the ceremony row to commit with it.
/// Asks for a discoverable credential and user verification where the authenticator can, so a
/// key enrolled here can also sign in without a password.
pub async fn start_registration(
    state: &Context,
    account: &Account,
    method: MethodId,
) -> DomainResult<(Value, Write)> {
    let rp = rp_id(state)?;
    let handle = user_handle(state, account.id).await?;
    let exclude = state
        .store
        .webauthn_credentials_of(account.id)
        .await?
        .iter()
        .map(descriptor)
        .collect::<DomainResult<Vec<_>>>()?;
    let name = Username::try_from(account.email.as_str())
        .or_else(|_| Username::try_from("deadbolt user"))
        .map_err(|e| internal("username", e))?;
    let user = PublicKeyCredentialUserEntity {
        name,
        id: &handle,
        display_name: None,
    };
    let mut options = PublicKeyCredentialCreationOptions::passkey(&rp, user, exclude);
    options.authenticator_selection = AuthenticatorSelectionCriteria {
        authenticator_attachment: AuthenticatorAttachmentReq::default(),
        resident_key: ResidentKeyRequirement::Preferred,
        user_verification: UserVerificationRequirement::Preferred,
    };
    options.extensions.cred_protect = CredProtect::None;
    options.extensions.cred_props = Some(ExtensionReq::Allow);
    options.timeout = timeout(state).0;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| internal("creation options", e))?;
    let mut public_key = serde_json::to_value(&client).map_err(|e| internal("options", e))?;
    if AttestationPolicy::parse(&state.config.webauthn.attestation)
        == Some(AttestationPolicy::Required)
    {
        public_key["attestation"] = json!("direct");
        public_key["attestationFormats"] = json!(["packed"]);
    }
    let encoded = server.encode().map_err(|e| internal("server state", e))?;
    let mut record = ceremony(state, REGISTER, server.sent_challenge(), encoded);
    record.account_id = Some(account.id);
    record.method_id = Some(method);
    Ok((public_key, record.insert()))
}

/// Verifies a pending method's registration: the writes that store the credential and spend
/// the ceremony (a guard), for the confirmation to commit.
pub async fn finish_registration(
    state: &Context,
    account: &Account,
    method: &MethodRecord,
    credential: &Value,
) -> DomainResult<Vec<Write>> {
    let (registration, challenge) = parse_registration(credential)?;
    let found = state
        .store
        .ceremony_by_challenge(&challenge_hex(challenge))
        .await?;
    let ceremony = live(state, found, REGISTER)?;
    if ceremony.account_id != Some(account.id) || ceremony.method_id != Some(method.id) {
        return Err(DomainError::InvalidCredential(
            "this credential answers another registration".into(),
        ));
    }
    let now = state.clock.now();
    let checked = verify_registration(
        &state.config.webauthn,
        &ceremony.state,
        &registration,
        account.id,
        method.id,
        now,
    )?;
    let Registered {
        record,
        attested,
        aaguid,
    } = match checked {
        Ok(r) => r,
        Err(refused) => {
            // one credential per ceremony: a failed one is spent
            state.commit(vec![ceremony.spoil(now)]).await?;
            return Err(refused);
        }
    };
    if state
        .store
        .webauthn_credential(&record.credential_id)
        .await?
        .is_some()
    {
        return Err(DomainError::InvalidCredential(
            "this credential is already registered".into(),
        ));
    }
    let policy = AttestationPolicy::parse(&state.config.webauthn.attestation)
        .unwrap_or(AttestationPolicy::None);
    if let Err(why) =
        rules::check_attestation(policy, &state.config.webauthn.aaguids(), attested, aaguid)
    {
        state.commit(vec![ceremony.spoil(now)]).await?;
        return Err(DomainError::AttestationRefused(match why {
            AttestationRefusal::Missing => {
                "this service requires an attested authenticator; this one sent no attestation"
            }
            AttestationRefusal::AaguidNotAllowed => {
                "this model of authenticator is not on this service's allow list"
            }
        }));
    }
    Ok(vec![ceremony.consume(now), record.insert()])
}

/// A registration that verified: the credential row to store, and what the attestation
/// policy judges.
pub struct Registered {
    pub record: WebauthnCredentialRecord,
    pub attested: bool,
    pub aaguid: uuid::Uuid,
}

/// Verifies `registration` against its ceremony's stored server state under `config`'s RP ID
/// and origins, and builds the credential row. `Err`: the stored state or configuration is
/// broken; `Ok(Err)`: the registration is refused (the ceremony is then spent). Apart from the
/// store, this is all of [`finish_registration`]; public so that the fuzz targets can take a
/// hostile registration this far.
pub fn verify_registration(
    config: &WebauthnConfig,
    server_state: &[u8],
    registration: &Registration,
    account: AccountId,
    method: MethodId,
    now: time::OffsetDateTime,
) -> DomainResult<Result<Registered, DomainError>> {
    let server = RegistrationServerState::<HANDLE_LEN>::decode(server_state)
        .map_err(|e| internal("stored registration", e))?;
    let rp = rp_id_of(config)?;
    let allowed = origins(config)?;
    let options = RegistrationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &allowed,
        ..RegistrationVerificationOptions::default()
    };
    let registered = match server.verify(&rp, registration, &options) {
        Ok(r) => r,
        Err(e) => {
            return Ok(Err(match e {
                RegCeremonyErr::OriginMismatch
                | RegCeremonyErr::CrossOrigin
                | RegCeremonyErr::TopOriginMismatch => DomainError::WrongOrigin,
                RegCeremonyErr::Timeout => DomainError::CeremonyExpired,
                other => {
                    tracing::info!(error = ?other, "webauthn registration refused");
                    DomainError::InvalidCredential(
                        "the registration did not verify (challenge, RP ID, signature or flags)"
                            .into(),
                    )
                }
            }))
        }
    };
    let metadata = registered.metadata();
    let aaguid =
        uuid::Uuid::from_slice(metadata.aaguid.data()).map_err(|e| internal("aaguid", e))?;
    let attested = matches!(metadata.attestation, Attestation::Surrogate);
    let dynamic = registered.dynamic_state();
    let record = WebauthnCredentialRecord {
        method_id: method,
        account_id: account,
        credential_id: registered.id().as_ref().to_vec(),
        static_state: registered
            .static_state()
            .encode()
            .map_err(|e| internal("static state", e))?,
        dynamic_state: dynamic
            .encode()
            .map_err(|e| internal("dynamic state", e))?
            .to_vec(),
        sign_count: dynamic.sign_count,
        aaguid: aaguid.to_string(),
        attestation: if attested { "self" } else { "none" }.to_owned(),
        transports: registered
            .transports()
            .encode()
            .map_err(|e| internal("transports", e))?,
        backup_eligible: !matches!(dynamic.backup, Backup::NotEligible),
        backed_up: matches!(dynamic.backup, Backup::Exists),
        discoverable: metadata
            .client_extension_results
            .cred_props
            .and_then(|p| p.rk),
        created_at: now,
        last_used_at: None,
    };
    Ok(Ok(Registered {
        record,
        attested,
        aaguid,
    }))
}

// ---------------------------------------------------------------------------------------------
// Assertions

/// The stored credential in the form `webauthn_rp` verifies against.
struct Stored {
    record: WebauthnCredentialRecord,
    static_state: StaticState<StoredKey>,
    dynamic_state: DynamicState,
}

fn stored(record: WebauthnCredentialRecord) -> DomainResult<Stored> {
    let static_state = StaticState::<StoredKey>::decode(record.static_state.as_slice())
        .map_err(|e| internal("stored static state", e))?;
    let dynamic: [u8; 7] = record
        .dynamic_state
        .as_slice()
        .try_into()
        .map_err(|_| DomainError::Internal(anyhow::anyhow!("stored dynamic state length")))?;
    let dynamic_state =
        DynamicState::decode(dynamic).map_err(|e| internal("stored dynamic state", e))?;
    Ok(Stored {
        record,
        static_state,
        dynamic_state,
    })
}

/// Whether the authenticator verified the user in this assertion (the UV flag, bit 2 of the
/// flags byte that follows the 32-byte RP ID hash).
fn user_verified(authenticator_data: &[u8]) -> bool {
    authenticator_data.get(32).is_some_and(|f| f & 0x04 != 0)
}

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
    state: &Context,
    client: &ClientInfo,
    account: &Account,
    ceremony: &CeremonyRecord,
    method: MethodId,
    err: AuthCeremonyErr,
    stored_count: u32,
    received_count: u32,
) -> DomainResult<Refused> {
    let now = state.clock.now();
    let mut writes = vec![ceremony.spoil(now)];
    match err {
        AuthCeremonyErr::Timeout => return Err(DomainError::CeremonyExpired),
        AuthCeremonyErr::SignatureCounter => {
            debug_assert!(rules::sign_count_regressed(stored_count, received_count));
            writes.push(
                event(
                    state,
                    EventKind::WebauthnSignCountRegressed,
                    Some(account.id),
                    client,
                    json!({"method_id": method, "stored": stored_count, "received": received_count}),
                )
                .write(),
            );
            writes.push(notice(state, account, Notice::AuthenticatorCloned, client)?.write());
        }
        other => tracing::info!(error = ?other, method_id = %method, "webauthn assertion refused"),
    }
    Ok(Refused { writes })
}

/// The method of `account` a second-factor assertion's credential belongs to. A malformed
/// credential is 400 `invalid_credential`; one that is not this account's (or not the named
/// method's) is 400 `unknown_credential`.
pub async fn method_of(
    state: &Context,
    account: AccountId,
    credential: &Value,
    named: Option<MethodId>,
) -> DomainResult<MethodId> {
    let (assertion, _) = parse_assertion(credential)?;
    let record = state
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
    state: &Context,
    account: &Account,
    challenge: &ChallengeRecord,
    methods: &[MethodRecord],
) -> DomainResult<Value> {
    let rp = rp_id(state)?;
    let active: Vec<MethodId> = methods
        .iter()
        .filter(|m| m.kind == deadbolt_core::mfa::MethodKind::WebAuthn && m.is_active())
        .map(|m| m.id)
        .collect();
    let creds = state.store.webauthn_credentials_of(account.id).await?;
    let mut allowed = AllowedCredentials::with_capacity(creds.len());
    for c in creds.iter().filter(|c| active.contains(&c.method_id)) {
        allowed.push(descriptor(c)?.into());
    }
    let mut options = NonDiscoverableCredentialRequestOptions::second_factor(&rp, allowed)
        .map_err(|_| {
            DomainError::InvalidRequest("this account has no usable security key".into())
        })?;
    options.options().timeout = timeout(state).0;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| internal("request options", e))?;
    let public_key = serde_json::to_value(&client).map_err(|e| internal("options", e))?;
    let encoded = server.encode().map_err(|e| internal("server state", e))?;
    let mut record = ceremony(state, SECOND_FACTOR, server.sent_challenge(), encoded);
    record.account_id = Some(account.id);
    record.challenge_hash = Some(challenge.token_hash.clone());
    state.commit(vec![record.insert()]).await?;
    Ok(public_key)
}

/// Checks a second-factor assertion for `challenge` against `method`'s credential. `Ok(Ok)`:
/// verified, with the writes that spend it; `Ok(Err)`: a failed assertion (wrong signature,
/// origin, replayed challenge, counter gone backwards) to count as a wrong code; `Err`: an
/// answer of its own (malformed, expired ceremony, unknown credential).
pub async fn check_second_factor(
    state: &Context,
    client: &ClientInfo,
    account: &Account,
    challenge: &ChallengeRecord,
    method: &MethodRecord,
    credential: &Value,
) -> DomainResult<Result<Verified, Refused>> {
    let (assertion, sent) = parse_assertion(credential)?;
    let now = state.clock.now();
    let found = state
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
    let record = state
        .store
        .webauthn_credential(assertion.raw_id().as_ref())
        .await?
        .filter(|c| c.account_id == account.id && c.method_id == method.id)
        .ok_or(DomainError::UnknownCredential)?;
    let stored = stored(record)?;
    let handle = user_handle(state, account.id).await?;
    let mut cred = AuthenticatedCredential::new(
        assertion.raw_id(),
        &handle,
        stored.static_state,
        stored.dynamic_state,
    )
    .map_err(|e| internal("stored credential", e))?;
    let server = NonDiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
        .map_err(|e| internal("stored ceremony", e))?;
    let rp = rp_id(state)?;
    let allowed = origins(&state.config.webauthn)?;
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
            state,
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

/// The signature counter in authenticator data (bytes 33..37, big-endian); 0 when too short.
fn received_count(authenticator_data: &[u8]) -> u32 {
    authenticator_data
        .get(33..37)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes)
}

// ---------------------------------------------------------------------------------------------
// Passkey sign-in

/// Options for a usernameless sign-in: no credentials listed (the authenticator offers its
/// discoverable ones), user verification required.
pub async fn start_passkey(state: &Context) -> DomainResult<(uuid::Uuid, Value)> {
    let rp = rp_id(state)?;
    let mut options = DiscoverableCredentialRequestOptions::passkey(&rp);
    options.0.timeout = timeout(state).0;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| internal("request options", e))?;
    let public_key = serde_json::to_value(&client).map_err(|e| internal("options", e))?;
    let encoded = server.encode().map_err(|e| internal("server state", e))?;
    let record = ceremony(state, PASSKEY, server.sent_challenge(), encoded);
    state.commit(vec![record.insert()]).await?;
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
    state: &Context,
    challenge_id: uuid::Uuid,
    credential: &Value,
) -> DomainResult<PasskeyAssertion> {
    let assertion = parse_passkey_assertion(credential)?;
    let ceremony = live(state, state.store.ceremony(challenge_id).await?, PASSKEY)?;
    let record = state
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
    state: &Context,
    client: &ClientInfo,
    account: &Account,
    found: PasskeyAssertion,
) -> DomainResult<Result<Verified, Refused>> {
    let PasskeyAssertion {
        assertion,
        ceremony,
        record,
    } = found;
    let now = state.clock.now();
    let handle = user_handle(state, account.id).await?;
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
    let rp = rp_id(state)?;
    let allowed = origins(&state.config.webauthn)?;
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
            state.commit(vec![ceremony.spoil(now)]).await?;
            Err(DomainError::WrongOrigin)
        }
        Err(e) => refusal(
            state,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_counter_are_read_from_authenticator_data() {
        let mut data = vec![0u8; 37];
        assert!(!user_verified(&data));
        data[32] = 0x05;
        data[33..37].copy_from_slice(&7u32.to_be_bytes());
        assert!(user_verified(&data));
        assert_eq!(received_count(&data), 7);
        assert_eq!(received_count(&data[..20]), 0);
        assert!(!user_verified(&[]));
    }
}
