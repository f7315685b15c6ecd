//! WebAuthn ceremonies (security keys and passkeys) over `webauthn_rp`: registration of a
//! pending method, assertions as a second factor (login, step-up, reset), and usernameless
//! passkey sign-in. Every ceremony's server state lives in the database (`webauthn_ceremonies`),
//! single use and short-lived, so whichever instance receives the credential can finish it.
//!
//! Everything the client sends is hostile until `webauthn_rp` has verified it: it is parsed
//! with the library's deserialisers, and any failure maps to a problem, never a panic.

mod authenticate;
mod register;

pub use authenticate::{
    check_passkey, check_second_factor, method_of, passkey_assertion, start_passkey,
    start_second_factor, PasskeyAssertion, Refused, Verified,
};
pub use register::{finish_registration, start_registration, verify_registration, Registered};

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use deadbolt_config::WebauthnConfig;
use deadbolt_core::ids::AccountId;
use deadbolt_store::{CeremonyRecord, WebauthnCredentialRecord};
use serde_json::Value;
use std::num::NonZeroU32;
use webauthn_rp::bin::Decode;
use webauthn_rp::request::register::UserHandle;
use webauthn_rp::request::{AsciiDomain, DomainOrigin, PublicKeyCredentialDescriptor, RpId};
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, CredentialId, SentChallenge};
use webauthn_rp::{DiscoverableAuthentication16, NonDiscoverableAuthentication16, Registration};

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

fn rp_id(ctx: &Context) -> DomainResult<RpId> {
    rp_id_of(&ctx.config.webauthn)
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

fn timeout(ctx: &Context) -> (NonZeroU32, time::Duration) {
    let secs = ctx.config.webauthn.ceremony_timeout_seconds.clamp(10, 3600);
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
    ctx: &Context,
    kind: &str,
    challenge: SentChallenge,
    server_state: Vec<u8>,
) -> CeremonyRecord {
    let now = ctx.clock.now();
    CeremonyRecord {
        id: {
            let mut b = [0u8; 16];
            ctx.rng.fill(&mut b);
            uuid::Builder::from_random_bytes(b).into_uuid()
        },
        challenge: challenge_hex(challenge),
        kind: kind.to_owned(),
        account_id: None,
        method_id: None,
        challenge_hash: None,
        state: server_state,
        created_at: now,
        expires_at: now + timeout(ctx).1,
        consumed_at: None,
    }
}

/// A ceremony the credential can still finish: present, of `kind`, unspent and unexpired.
fn live(ctx: &Context, c: Option<CeremonyRecord>, kind: &str) -> DomainResult<CeremonyRecord> {
    let c = c
        .filter(|c| c.kind == kind)
        .ok_or(DomainError::CeremonyExpired)?;
    if c.consumed_at.is_some() || ctx.clock.now() >= c.expires_at {
        return Err(DomainError::CeremonyExpired);
    }
    Ok(c)
}

async fn user_handle(ctx: &Context, account: AccountId) -> DomainResult<Handle> {
    let mut fresh = [0u8; HANDLE_LEN];
    ctx.rng.fill(&mut fresh);
    let stored = ctx
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

/// The signature counter in authenticator data (bytes 33..37, big-endian); 0 when too short.
fn received_count(authenticator_data: &[u8]) -> u32 {
    authenticator_data
        .get(33..37)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes)
}

// ---------------------------------------------------------------------------------------------
// Passkey sign-in

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
