//! WebAuthn credentials (RegistrationResponseJSON, AuthenticationResponseJSON): the service's
//! parse, then verification against a real ceremony's stored server state whose challenge is
//! set to the one the credential names, so that a mutated credential gets past the challenge
//! check into client data, authenticator data, CBOR and signature checks.

use crate::fixture::fixture;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_usecases::webauthn;
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use webauthn_rp::bin::{Decode, Encode as _};
use webauthn_rp::request::auth::{AuthenticationVerificationOptions, SignatureCounterEnforcement};
use webauthn_rp::request::register::UserHandle;
use webauthn_rp::request::{AsciiDomain, DomainOrigin, RpId};
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::SentChallenge;
use webauthn_rp::{AuthenticatedCredential, DiscoverableAuthenticationServerState};

type StoredKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

const ORIGIN: &str = "http://localhost:8080";
const CREDENTIAL_ID: [u8; 16] = [0x42; 16];
const KEY_SEED: [u8; 32] = [9; 32];

/// A stored ceremony state with its challenge replaced: the state encodes the challenge as the
/// bytes that were sent (little-endian), found and overwritten in place.
fn with_challenge(state: &[u8], sent: [u8; 16], wanted: SentChallenge) -> Vec<u8> {
    let mut out = state.to_vec();
    if let Some(at) = out.windows(16).position(|w| w == sent) {
        out[at..at + 16].copy_from_slice(&wanted.0.to_le_bytes());
    } else {
        panic!("the ceremony state does not hold its challenge as sent");
    }
    out
}

pub fn registration(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok((registration, challenge)) = webauthn::parse_registration(&value) else {
        return;
    };
    let f = fixture();
    let state = with_challenge(&f.registration_state, f.registration_challenge, challenge);
    let now = f.state.clock.now();
    match webauthn::verify_registration(
        &f.state.config.webauthn,
        &state,
        &registration,
        f.account.id,
        f.method_id,
        now,
    ) {
        // the stored state and config are sound: no credential may make this an internal error
        Err(e) => panic!("a registration made an internal error: {e:?}"),
        Ok(Err(_refused)) => {}
        Ok(Ok(registered)) => {
            let r = &registered.record;
            // WebAuthn credential ids are 16 to 1023 bytes; the store keys on them
            assert!((16..=1023).contains(&r.credential_id.len()));
            assert_eq!(r.aaguid, registered.aaguid.to_string());
            // what is stored must load again when the credential is used
            assert!(StaticState::<StoredKey>::decode(r.static_state.as_slice()).is_ok());
            let dynamic: [u8; 7] = match r.dynamic_state.as_slice().try_into() {
                Ok(d) => d,
                Err(_) => panic!("dynamic state of {} bytes", r.dynamic_state.len()),
            };
            assert!(DynamicState::decode(dynamic).is_ok());
        }
    }
}

pub fn authentication(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let _ = check_assertion(&value);
    }
}

/// An assertion as the second factor and as a passkey sign-in parse it; a passkey assertion
/// for the fixture's credential and user is then verified as `check_passkey` does.
pub fn check_assertion(value: &Value) -> bool {
    if let Ok((assertion, _)) = webauthn::parse_assertion(value) {
        let _ = assertion.raw_id().as_ref().len();
    }
    let Ok(assertion) = webauthn::parse_passkey_assertion(value) else {
        return false;
    };
    let f = fixture();
    let credential = stored_credential();
    // the service finds the credential by its id, and refuses another user's handle
    if assertion.raw_id().as_ref() != credential.credential_id.as_slice() {
        return false;
    }
    let Ok(handle) = UserHandle::<16>::decode(f.user_handle);
    if assertion.response().user_handle() != &handle {
        return false;
    }
    let Ok(challenge) = assertion.challenge_relaxed() else {
        return false;
    };
    let state = with_challenge(&f.passkey_state, f.passkey_challenge, challenge);
    let (Ok(server), Ok(static_state), Ok(dynamic)) = (
        DiscoverableAuthenticationServerState::decode(state.as_slice()),
        StaticState::<StoredKey>::decode(credential.static_state.as_slice()),
        <[u8; 7]>::try_from(credential.dynamic_state.as_slice()),
    ) else {
        panic!("fixture ceremony or credential does not decode");
    };
    let Ok(dynamic_state) = DynamicState::decode(dynamic) else {
        panic!("fixture dynamic state");
    };
    let Ok(mut cred) =
        AuthenticatedCredential::new(assertion.raw_id(), &handle, static_state, dynamic_state)
    else {
        return false;
    };
    let Ok(domain) = AsciiDomain::try_from(f.state.config.webauthn.rp_id.clone()) else {
        panic!("fixture rp_id");
    };
    let rp = RpId::Domain(domain);
    let origins = f.state.config.webauthn.origins();
    let allowed: Vec<DomainOrigin<'_, '_>> = origins
        .iter()
        .filter_map(|o| DomainOrigin::try_from(*o).ok())
        .collect();
    let options = AuthenticationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &allowed,
        update_uv: true,
        sig_counter_enforcement: SignatureCounterEnforcement::Fail,
        ..AuthenticationVerificationOptions::default()
    };
    let verified = server.verify(&rp, &assertion, &mut cred, &options).is_ok();
    if verified {
        assert!(cred.dynamic_state().encode().is_ok());
    }
    verified
}

/// The fixture's registered credential (the sample registration, verified by the service).
fn stored_credential() -> &'static deadbolt_store::WebauthnCredentialRecord {
    static CREDENTIAL: std::sync::OnceLock<deadbolt_store::WebauthnCredentialRecord> =
        std::sync::OnceLock::new();
    CREDENTIAL.get_or_init(|| {
        let f = fixture();
        let value = sample_registration_json(f.registration_challenge);
        let registered = webauthn::parse_registration(&value).and_then(|(r, _)| {
            webauthn::verify_registration(
                &f.state.config.webauthn,
                &f.registration_state,
                &r,
                f.account.id,
                f.method_id,
                f.state.clock.now(),
            )
        });
        match registered {
            Ok(Ok(r)) => r.record,
            Ok(Err(e)) | Err(e) => panic!("the sample registration does not verify: {e:?}"),
        }
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        n @ 0..=23 => out.push(0x40 | n as u8),
        n @ 24..=255 => out.extend([0x58, n as u8]),
        n => out.extend([0x59, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(bytes);
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    out.push(0x60 | s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn rp_id_hash() -> [u8; 32] {
    Sha256::digest(b"localhost").into()
}

/// A `none`-attestation registration of an Ed25519 credential, as a software authenticator
/// makes it for `challenge` at the default origin.
pub fn sample_registration_json(challenge: [u8; 16]) -> Value {
    let key = ed25519_dalek::SigningKey::from_bytes(&KEY_SEED);
    // COSE_Key {1: 1 (OKP), 3: -8 (EdDSA), -1: 6 (Ed25519), -2: x}
    let mut cose = vec![0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21];
    cbor_bytes(&mut cose, key.verifying_key().as_bytes());
    let mut auth_data = rp_id_hash().to_vec();
    auth_data.push(0x45); // UP, UV, AT
    auth_data.extend(0u32.to_be_bytes());
    auth_data.extend([0u8; 16]); // AAGUID
    auth_data.extend((CREDENTIAL_ID.len() as u16).to_be_bytes());
    auth_data.extend(CREDENTIAL_ID);
    auth_data.extend(cose);
    let mut attestation = vec![0xa3];
    cbor_text(&mut attestation, "fmt");
    cbor_text(&mut attestation, "none");
    cbor_text(&mut attestation, "attStmt");
    attestation.push(0xa0);
    cbor_text(&mut attestation, "authData");
    cbor_bytes(&mut attestation, &auth_data);
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": b64(&challenge),
        "origin": ORIGIN,
        "crossOrigin": false,
    })
    .to_string();
    json!({
        "id": b64(&CREDENTIAL_ID),
        "rawId": b64(&CREDENTIAL_ID),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(client_data.as_bytes()),
            "attestationObject": b64(&attestation),
            "transports": ["usb"],
        },
        "clientExtensionResults": {},
        "authenticatorAttachment": "cross-platform",
    })
}

/// A passkey assertion by the sample credential for `challenge`, signed, with the user handle.
fn assertion_json(challenge: [u8; 16], user_handle: [u8; 16], count: u32) -> Value {
    let key = ed25519_dalek::SigningKey::from_bytes(&KEY_SEED);
    let mut auth_data = rp_id_hash().to_vec();
    auth_data.push(0x05); // UP, UV
    auth_data.extend(count.to_be_bytes());
    let client_data = json!({
        "type": "webauthn.get",
        "challenge": b64(&challenge),
        "origin": ORIGIN,
        "crossOrigin": false,
    })
    .to_string();
    let mut signed = auth_data.clone();
    signed.extend(Sha256::digest(client_data.as_bytes()));
    let signature = key.sign(&signed);
    json!({
        "id": b64(&CREDENTIAL_ID),
        "rawId": b64(&CREDENTIAL_ID),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(client_data.as_bytes()),
            "authenticatorData": b64(&auth_data),
            "signature": b64(&signature.to_bytes()),
            "userHandle": b64(&user_handle),
        },
        "clientExtensionResults": {},
        "authenticatorAttachment": "cross-platform",
    })
}

/// The sample assertion for the fixture's passkey ceremony.
pub fn sample_assertion_json() -> Value {
    let f = fixture();
    assertion_json(f.passkey_challenge, f.user_handle, 1)
}

pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let f = fixture();
    let registration = sample_registration_json(f.registration_challenge);
    let assertion = sample_assertion_json();
    let mut no_handle = assertion.clone();
    no_handle["response"]
        .as_object_mut()
        .map(|r| r.remove("userHandle"));
    vec![
        (
            "webauthn_registration",
            "none_ed25519",
            serde_json::to_vec(&registration).unwrap_or_default(),
        ),
        (
            "webauthn_authentication",
            "passkey_ed25519",
            serde_json::to_vec(&assertion).unwrap_or_default(),
        ),
        (
            "webauthn_authentication",
            "second_factor",
            serde_json::to_vec(&no_handle).unwrap_or_default(),
        ),
    ]
}

/// Whether the sample registration and assertion verify end to end: the replay test checks
/// this, so that the targets are known to reach verification rather than stop at a harness
/// mistake.
pub fn samples_verify() -> bool {
    !stored_credential().credential_id.is_empty() && check_assertion(&sample_assertion_json())
}
