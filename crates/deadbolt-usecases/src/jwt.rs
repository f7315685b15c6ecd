//! Access tokens: EdDSA-signed JWTs with the claims API.md lists. Expiry is checked against the
//! service's clock, not the library's, so there is one notion of "now".

pub use crate::claims::{AccessClaims, StepUpClaims};
use crate::keyring::{KeyRing, SigningKeys};
use crate::verified_tokens::{Verified, VerifiedTokens};
use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed or badly signed token")]
    Invalid,
    #[error("token expired")]
    Expired,
}

pub fn sign(keys: &KeyRing, claims: &AccessClaims) -> Result<String, serde_json::Error> {
    sign_compact(keys, "at+jwt", claims)
}

/// JWS compact serialisation with the expanded Ed25519 key. jsonwebtoken re-derives the key
/// pair from its PKCS#8 form at every signature (a curve multiplication each time); verification
/// stays with jsonwebtoken, and the tests verify these tokens with it independently.
fn sign_compact<T: Serialize>(
    keys: &KeyRing,
    typ: &str,
    claims: &T,
) -> Result<String, serde_json::Error> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    use ed25519_dalek::Signer as _;
    let signing = keys.signing();
    let header = serde_json::json!({"typ": typ, "alg": "EdDSA", "kid": signing.kid});
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
    let signature = signing.key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    Ok(token)
}

/// Checks signature, issuer and audience, then expiry against `now`. A token this key set
/// verified before is not verified again (see `crate::verified_tokens`): its key must still
/// verify and it must not have expired, checked here on every call.
pub fn verify(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, JwtError> {
    let signing = keys.signing();
    let cache_key = VerifiedTokens::key(token);
    if let Some(hit) = signing.verified.get(&cache_key) {
        let key_verifies = signing
            .verifying
            .get(&hit.kid)
            .is_some_and(|k| k.verifies_at(now));
        if !key_verifies || hit.claims.iss != issuer || hit.claims.aud != audience {
            return Err(JwtError::Invalid);
        }
        if hit.claims.exp <= now.unix_timestamp() {
            signing.verified.remove(&cache_key);
            return Err(JwtError::Expired);
        }
        return Ok(hit.claims);
    }
    let (kid, claims) = verify_signature(&signing, token, issuer, audience, now)?;
    signing.verified.insert(
        cache_key,
        Verified {
            kid,
            claims: claims.clone(),
        },
        now.unix_timestamp(),
    );
    Ok(claims)
}

/// The whole check, without the cache: signature, issuer and audience, then expiry against
/// `now`. Returns the signing key's id with the claims.
pub fn verify_signature(
    signing: &SigningKeys,
    token: &str,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<(String, AccessClaims), JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
    // only access tokens: a step-up token is signed by the same key and must not pass for one
    if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some("at+jwt") {
        return Err(JwtError::Invalid);
    }
    // a retired key verifies only until everything it signed has expired
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| signing.verifying.get(kid))
        .filter(|k| k.verifies_at(now))
        .ok_or(JwtError::Invalid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.required_spec_claims = ["exp", "iss", "aud", "sub"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
        .map_err(|_| JwtError::Invalid)?;
    if data.claims.exp <= now.unix_timestamp() {
        return Err(JwtError::Expired);
    }
    Ok((key.kid.clone(), data.claims))
}

/// The audience of step-up tokens: the service's URL with `/step-up`, unlike access tokens,
/// whose audience is the URL itself.
pub fn step_up_audience(public_url: &str) -> String {
    format!("{}/step-up", public_url.trim_end_matches('/'))
}

pub fn sign_step_up(keys: &KeyRing, claims: &StepUpClaims) -> Result<String, serde_json::Error> {
    sign_compact(keys, "step-up+jwt", claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master_key::{MasterKey, MasterKeys};
    use crate::system::{OsRandom, SystemClock};
    use deadbolt_core::clock::Clock;
    use deadbolt_core::ids::{AccountId, SessionId};
    use deadbolt_store::Store;

    const URL: &str = "https://id.example.com";

    async fn keys() -> (tempfile::TempDir, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/k.db", dir.path().display()), 1).unwrap();
        store.migrate().await.unwrap();
        let master = MasterKeys::from_keys(vec![MasterKey::from_bytes(&[1; 32])]).unwrap();
        let keys = KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
            .await
            .unwrap();
        (dir, keys)
    }

    fn claims(now: OffsetDateTime) -> AccessClaims {
        AccessClaims {
            iss: URL.to_owned(),
            sub: AccountId::generate(&OsRandom),
            aud: URL.to_owned(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + 900,
            jti: uuid::Uuid::new_v4(),
            sid: SessionId::generate(&OsRandom),
            auth_time: now.unix_timestamp(),
            amr: vec!["pwd".to_owned()],
            acr: "aal1".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_but_still_expires_and_keeps_its_audience() {
        let (_dir, keys) = keys().await;
        let now = SystemClock.now();
        let signed = claims(now);
        let token = sign(&keys, &signed).unwrap();
        assert_eq!(verify(&keys, &token, URL, URL, now).unwrap(), signed);
        assert_eq!(keys.signing().verified.len(), 1);
        // from the cache: the same claims, and only where they were valid
        assert_eq!(verify(&keys, &token, URL, URL, now).unwrap(), signed);
        assert_eq!(
            verify(&keys, &token, URL, "https://other.example.com", now),
            Err(JwtError::Invalid)
        );
        assert_eq!(
            verify(&keys, &token, URL, URL, now + time::Duration::seconds(900)),
            Err(JwtError::Expired)
        );
        assert!(
            keys.signing().verified.is_empty(),
            "an expired token is forgotten"
        );
    }

    #[tokio::test]
    async fn only_tokens_that_verify_are_remembered() {
        let (_dir, keys) = keys().await;
        let now = SystemClock.now();
        let token = sign(&keys, &claims(now)).unwrap();
        // the last character of the signature changed: a different token, checked in full
        let last = token.chars().last().unwrap();
        let forged = format!(
            "{}{}",
            &token[..token.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        );
        assert_eq!(
            verify(&keys, &forged, URL, URL, now),
            Err(JwtError::Invalid)
        );
        assert!(keys.signing().verified.is_empty());
        assert!(verify(&keys, &token, URL, URL, now).is_ok());
        assert_eq!(
            verify(&keys, &forged, URL, URL, now),
            Err(JwtError::Invalid)
        );
    }
}
