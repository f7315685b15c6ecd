//! Signed authorization requests (RFC 9101): a client's registered keys (`jwks` at
//! registration) and the request objects a browser brings to the authorization endpoint, both
//! outside input.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_store::ClientRecord;
use deadbolt_usecases::oidc::request_object::{check_keys, verify};
use deadbolt_usecases::DomainError;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use time::OffsetDateTime;

const ISSUER: &str = "https://deadbolt.fuzz";
const CLIENT_ID: &str = "dbc_fuzzclient0000000000";
/// The moment the fuzzer checks at: fixed, so that a found input replays the same.
const NOW: i64 = 1_800_000_000;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn jwks() -> Value {
    json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "fuzz",
        "x": URL_SAFE_NO_PAD.encode(key().verifying_key().as_bytes()),
    }]})
}

fn client() -> ClientRecord {
    ClientRecord {
        client_id: CLIENT_ID.into(),
        name: "Fuzz".into(),
        redirect_uris: vec!["https://rp.fuzz/cb".into()],
        post_logout_redirect_uris: Vec::new(),
        public: false,
        first_party: true,
        grants: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        id_token_alg: "RS256".into(),
        secret_hash: None,
        hash_key_id: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
        created_by: None,
        secret_rotated_at: None,
        deleted_at: None,
        jwks: check_keys(&jwks()).ok(),
    }
}

/// Starting with `{`: a JWKS as registered; else a request object checked against a client
/// holding a fixed Ed25519 key.
pub fn request_object(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.starts_with('{') {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match check_keys(&value) {
            // what is stored is accepted again as it is
            Ok(stored) => match serde_json::from_str::<Value>(&stored).map(|v| check_keys(&v)) {
                Ok(Ok(again)) => assert_eq!(again, stored, "stored keys changed on a re-check"),
                other => panic!("stored keys no longer pass: {other:?}"),
            },
            Err(DomainError::InvalidRequest(_)) => {}
            Err(other) => panic!("keys gave {other:?}, not invalid_request"),
        }
        return;
    }
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    if let Ok(object) = verify(&client(), ISSUER, text, now) {
        // only a signature by the client's key gets here: what it names is this client's
        assert_eq!(object.params.client_id.as_deref(), Some(CLIENT_ID));
        assert!(
            object.params.request.is_none(),
            "no object inside an object"
        );
        assert!(!object.jti.is_empty() && object.jti.len() <= 128);
        assert!(object.expires_at <= now + time::Duration::minutes(11));
    }
}

/// A request object signed by the fixture client's key.
fn signed(claims: &Value) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"fuzz","typ":"oauth-authz-req+jwt"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let signature = URL_SAFE_NO_PAD.encode(key().sign(input.as_bytes()).to_bytes());
    format!("{input}.{signature}")
}

fn seed_claims() -> Value {
    json!({
        "iss": CLIENT_ID, "aud": ISSUER, "client_id": CLIENT_ID, "exp": NOW + 300, "jti": "j-1",
        "response_type": "code", "redirect_uri": "https://rp.fuzz/cb", "scope": "openid",
        "max_age": 0, "deadbolt_subject": {"external_id": "42", "email": "a@b.example", "email_verified": true},
    })
}

/// Whether the seed gets past the signature (a harness mistake would stop every input there).
pub fn seed_verifies() -> bool {
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    verify(&client(), ISSUER, &signed(&seed_claims()), now).is_ok()
}

pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        (
            "request_object",
            "valid",
            signed(&seed_claims()).into_bytes(),
        ),
        ("request_object", "jwks", jwks().to_string().into_bytes()),
    ]
}
