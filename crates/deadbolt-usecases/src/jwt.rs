//! Access tokens: EdDSA-signed JWTs with the claims API.md lists. Expiry is checked against the
//! service's clock, not the library's, so there is one notion of "now". OpenID Connect tokens
//! are signed with [`sign_with`], EdDSA or RS256 as the client was registered, and their
//! signatures checked with [`verify_any`].

pub use crate::claims::{AccessClaims, StepUpClaims};
use crate::keyring::{KeyRing, SigningKeys};
use crate::verified_tokens::{Verified, VerifiedTokens};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_core::oidc_client::SigningAlg;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
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
    sign_compact(keys, SigningAlg::EdDsa, "at+jwt", claims)
}

/// A JWT of type `typ` signed with the live key of `alg`: for OpenID Connect, whose clients
/// each take EdDSA or RS256.
pub fn sign_with<T: serde::Serialize>(
    keys: &KeyRing,
    alg: deadbolt_core::oidc_client::SigningAlg,
    typ: &str,
    claims: &T,
) -> Result<String, serde_json::Error> {
    sign_compact(keys, alg, typ, claims)
}

/// JWS compact serialisation with the expanded keys. jsonwebtoken re-derives an Ed25519 key
/// pair from its PKCS#8 form at every signature (a curve multiplication each time), and parses
/// and checks an RSA key at every signature too; verification stays with jsonwebtoken, and the
/// tests verify these tokens with it independently.
fn sign_compact<T: Serialize>(
    keys: &KeyRing,
    alg: SigningAlg,
    typ: &str,
    claims: &T,
) -> Result<String, serde_json::Error> {
    use ed25519_dalek::Signer as _;
    let signing = keys.signing();
    let kid = match alg {
        SigningAlg::EdDsa => &signing.kid,
        SigningAlg::Rs256 => &signing.rsa.kid,
    };
    let header = serde_json::json!({"typ": typ, "alg": alg.as_str(), "kid": kid});
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
    let signature = match alg {
        SigningAlg::EdDsa => URL_SAFE_NO_PAD.encode(signing.key.sign(token.as_bytes()).to_bytes()),
        SigningAlg::Rs256 => URL_SAFE_NO_PAD.encode(
            signing
                .rsa
                .sign(token.as_bytes())
                // only a failing system generator (ring blinds with it) gets here
                .map_err(|_| {
                    <serde_json::Error as serde::ser::Error>::custom("RS256 signing failed")
                })?,
        ),
    };
    token.push('.');
    token.push_str(&signature);
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
    let key = key_for(signing, &header, now)?;
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

/// Checks the signature of a token signed by any published key, EdDSA or RS256, the one its
/// header's `kid` names, as long as that key verifies at `now`. No claim is checked, not even
/// `exp`: the caller checks them (an `id_token_hint` may have expired, and OpenID Connect access
/// tokens have claims of their own).
pub fn verify_any<T: DeserializeOwned>(
    keys: &KeyRing,
    token: &str,
    now: OffsetDateTime,
) -> Result<(Header, T), JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
    if !matches!(header.alg, Algorithm::EdDSA | Algorithm::RS256) {
        return Err(JwtError::Invalid);
    }
    let signing = keys.signing();
    let key = key_for(&signing, &header, now)?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<T>(token, &key.key, &validation).map_err(|_| JwtError::Invalid)?;
    Ok((data.header, data.claims))
}

/// The key the header's `kid` names, if it is one for the header's algorithm and still
/// verifies: a retired key verifies only until everything it signed has expired.
fn key_for<'a>(
    signing: &'a SigningKeys,
    header: &Header,
    now: OffsetDateTime,
) -> Result<&'a crate::keyring::VerifyingKey, JwtError> {
    header
        .kid
        .as_deref()
        .and_then(|kid| signing.verifying.get(kid))
        .filter(|k| k.alg == header.alg && k.verifies_at(now))
        .ok_or(JwtError::Invalid)
}

/// The audience of step-up tokens: the service's URL with `/step-up`, unlike access tokens,
/// whose audience is the URL itself.
pub fn step_up_audience(public_url: &str) -> String {
    format!("{}/step-up", public_url.trim_end_matches('/'))
}

pub fn sign_step_up(keys: &KeyRing, claims: &StepUpClaims) -> Result<String, serde_json::Error> {
    sign_compact(keys, SigningAlg::EdDsa, "step-up+jwt", claims)
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
        let (dir, _, _, keys) = stored_keys().await;
        (dir, keys)
    }

    async fn stored_keys() -> (tempfile::TempDir, Store, MasterKeys, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/k.db", dir.path().display()), 1).unwrap();
        store.migrate().await.unwrap();
        let master = MasterKeys::from_keys(vec![MasterKey::from_bytes(&[1; 32])]).unwrap();
        let keys = KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
            .await
            .unwrap();
        (dir, store, master, keys)
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

    /// The key the published JWKS lists for `token`, as an outside verifier builds it.
    fn published_key(
        keys: &KeyRing,
        token: &str,
        now: OffsetDateTime,
    ) -> jsonwebtoken::DecodingKey {
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let jwks = keys.jwks(now);
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("kid in the JWKS");
        match jwk["kty"].as_str().unwrap() {
            "RSA" => jsonwebtoken::DecodingKey::from_rsa_components(
                jwk["n"].as_str().unwrap(),
                jwk["e"].as_str().unwrap(),
            )
            .unwrap(),
            _ => jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap(),
        }
    }

    /// Signature only, by jsonwebtoken with the published key.
    fn verified_outside(
        keys: &KeyRing,
        token: &str,
        alg: Algorithm,
        now: OffsetDateTime,
    ) -> serde_json::Value {
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode(token, &published_key(keys, token, now), &validation)
            .unwrap()
            .claims
    }

    #[tokio::test]
    async fn rs256_tokens_verify_with_the_published_rsa_key() {
        let (_dir, keys) = keys().await;
        let now = SystemClock.now();
        let claims = serde_json::json!({"iss": URL, "sub": "someone", "nonce": "n-0S6_WzA2Mj"});
        let token = sign_with(&keys, SigningAlg::Rs256, "JWT", &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some(keys.signing().rsa.kid.as_str()));
        assert_eq!(
            verified_outside(&keys, &token, Algorithm::RS256, now),
            claims
        );
        let (header, verified) = verify_any::<serde_json::Value>(&keys, &token, now).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(verified, claims);
    }

    #[tokio::test]
    async fn eddsa_tokens_from_sign_with_verify_as_before() {
        let (_dir, keys) = keys().await;
        let now = SystemClock.now();
        let claims = serde_json::json!({"sub": "someone"});
        let token = sign_with(&keys, SigningAlg::EdDsa, "JWT", &claims).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some(keys.signing().kid.as_str())
        );
        assert_eq!(
            verified_outside(&keys, &token, Algorithm::EdDSA, now),
            claims
        );
        assert_eq!(
            verify_any::<serde_json::Value>(&keys, &token, now)
                .unwrap()
                .1,
            claims
        );
        // an access token signed this way is an access token like any other
        let access = sign_with(&keys, SigningAlg::EdDsa, "at+jwt", &self::claims(now)).unwrap();
        assert!(verify(&keys, &access, URL, URL, now).is_ok());
    }

    #[tokio::test]
    async fn verify_any_checks_no_claim_but_every_signature() {
        let (_dir, keys) = keys().await;
        let now = SystemClock.now();
        // long expired, for another audience: the caller judges the claims
        let mut old = claims(now - time::Duration::days(1));
        old.aud = "https://other.example.com".to_owned();
        for alg in [SigningAlg::EdDsa, SigningAlg::Rs256] {
            let token = sign_with(&keys, alg, "JWT", &old).unwrap();
            assert_eq!(
                verify_any::<AccessClaims>(&keys, &token, now).unwrap().1,
                old
            );
            let forged = flip_last(&token);
            assert_eq!(
                verify_any::<AccessClaims>(&keys, &forged, now).err(),
                Some(JwtError::Invalid)
            );
        }
        // a header naming a key of the other algorithm, an unknown key, or no key
        let eddsa = sign_with(&keys, SigningAlg::EdDsa, "JWT", &old).unwrap();
        let rsa_kid = keys.signing().rsa.kid.clone();
        for header in [
            serde_json::json!({"alg": "RS256", "kid": keys.signing().kid}),
            serde_json::json!({"alg": "EdDSA", "kid": rsa_kid}),
            serde_json::json!({"alg": "HS256", "kid": rsa_kid}),
            serde_json::json!({"alg": "EdDSA", "kid": "unknown"}),
            serde_json::json!({"alg": "EdDSA"}),
        ] {
            let rest = eddsa.split_once('.').unwrap().1;
            let token = format!(
                "{}.{rest}",
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
            );
            assert_eq!(
                verify_any::<AccessClaims>(&keys, &token, now).err(),
                Some(JwtError::Invalid),
                "{header}"
            );
        }
    }

    #[tokio::test]
    async fn an_rs256_token_is_never_an_access_token() {
        let (_dir, keys) = keys().await;
        let now = SystemClock.now();
        let token = sign_with(&keys, SigningAlg::Rs256, "at+jwt", &claims(now)).unwrap();
        assert_eq!(verify(&keys, &token, URL, URL, now), Err(JwtError::Invalid));
    }

    #[tokio::test]
    async fn rotation_replaces_both_signing_keys_and_the_old_ones_verify_until_their_end() {
        let (_dir, store, master, keys) = stored_keys().await;
        let now = SystemClock.now();
        let before = keys.signing();
        let old: Vec<String> = [SigningAlg::EdDsa, SigningAlg::Rs256]
            .into_iter()
            .map(|alg| sign_with(&keys, alg, "JWT", &claims(now)).unwrap())
            .collect();
        let until = now + time::Duration::hours(1);
        let new = crate::keyring::rotate_signing(&store, &master, &OsRandom, now, until)
            .await
            .unwrap();
        assert!(keys.refresh(&store, &master).await.unwrap());
        assert!(!keys.refresh(&store, &master).await.unwrap(), "once");
        let after = keys.signing();
        assert_eq!(after.kid, new.ed25519);
        assert_eq!(after.rsa.kid, new.rs256);
        assert_ne!(after.kid, before.kid);
        assert_ne!(after.rsa.kid, before.rsa.kid);
        for (alg, kid) in [
            (SigningAlg::EdDsa, &new.ed25519),
            (SigningAlg::Rs256, &new.rs256),
        ] {
            let token = sign_with(&keys, alg, "JWT", &claims(now)).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_ref(), Some(kid));
            assert!(verify_any::<serde_json::Value>(&keys, &token, now).is_ok());
        }
        let published = |at| -> Vec<String> {
            keys.jwks(at)["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            published(now),
            [
                new.ed25519.clone(),
                new.rs256.clone(),
                before.kid.clone(),
                before.rsa.kid.clone()
            ],
            "the live keys first"
        );
        let last = until - time::Duration::seconds(1);
        for token in &old {
            assert!(verify_any::<serde_json::Value>(&keys, token, last).is_ok());
            assert_eq!(
                verify_any::<serde_json::Value>(&keys, token, until).err(),
                Some(JwtError::Invalid)
            );
        }
        assert_eq!(published(until), [new.ed25519, new.rs256]);
    }

    fn flip_last(token: &str) -> String {
        let last = token.chars().last().unwrap();
        format!(
            "{}{}",
            &token[..token.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        )
    }
}
