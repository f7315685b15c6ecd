//! Access tokens: EdDSA-signed JWTs with the claims API.md lists. Expiry is checked against the
//! service's clock, not the library's, so there is one notion of "now".

use crate::keyring::KeyRing;
use deadbolt_core::ids::{AccountId, SessionId};
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: AccountId,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
    pub sid: SessionId,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
}

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

/// Checks signature, issuer and audience, then expiry against `now`.
pub fn verify(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
    // only access tokens: a step-up token is signed by the same key and must not pass for one
    if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some("at+jwt") {
        return Err(JwtError::Invalid);
    }
    let signing = keys.signing();
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
    Ok(data.claims)
}

/// A step-up token: proof, for apps that guard their own actions, that this session passed a
/// fresh check for `action`. Verify it with the JWKS and check `action` and `sid`. Its audience
/// is [`step_up_audience`], never the access tokens' own, so that an app that checks only the
/// signature, issuer, audience and expiry cannot take it for an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUpClaims {
    pub iss: String,
    pub aud: String,
    pub sub: AccountId,
    pub sid: SessionId,
    pub action: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    /// What the check was asked for, when the action names one thing (an account id for
    /// `admin.mfa_reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The audience of step-up tokens: the service's URL with `/step-up`, unlike access tokens,
/// whose audience is the URL itself.
pub fn step_up_audience(public_url: &str) -> String {
    format!("{}/step-up", public_url.trim_end_matches('/'))
}

pub fn sign_step_up(keys: &KeyRing, claims: &StepUpClaims) -> Result<String, serde_json::Error> {
    sign_compact(keys, "step-up+jwt", claims)
}
