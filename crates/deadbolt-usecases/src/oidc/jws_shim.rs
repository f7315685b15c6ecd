//! TEMPORARY until the RS256 key lands: EdDSA only.
use crate::jwt::JwtError;
use crate::keyring::KeyRing;
use deadbolt_core::oidc_client::SigningAlg;
use serde::Serialize;
use time::OffsetDateTime;

pub fn sign_with<T: Serialize>(
    keys: &KeyRing,
    _alg: SigningAlg,
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

pub fn verify_any<T: serde::de::DeserializeOwned>(
    keys: &KeyRing,
    token: &str,
    now: OffsetDateTime,
) -> Result<(jsonwebtoken::Header, T), JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
    let signing = keys.signing();
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| signing.verifying.get(kid))
        .filter(|k| k.verifies_at(now))
        .ok_or(JwtError::Invalid)?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims = Default::default();
    let data = jsonwebtoken::decode::<T>(token, &key.key, &v).map_err(|_| JwtError::Invalid)?;
    Ok((header, data.claims))
}
