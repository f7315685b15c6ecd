//! Signed authorization requests (RFC 9101, by value): a client puts its request's parameters in
//! a JWT signed with a key it registered, so that they cannot be changed on the way through the
//! browser. That is what lets a product that checked a password itself name its person
//! (`deadbolt_subject`) and have Deadbolt do only the second factor.
//!
//! Only public keys are registered (ES256, EdDSA, RS256): Deadbolt keeps no more than a keyed
//! hash of a client's secret, so it could not check an HS256 signature, and would not want to
//! hold a key that can sign for the client.

use super::authorize::AuthorizeParams;
use crate::error::{DomainError, DomainResult};
use crate::subjects::SubjectDetails;
use deadbolt_store::ClientRecord;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

/// How far ahead a request object's `exp` may be: it travels through a browser, so a long-lived
/// one is a link someone else could use.
pub const MAX_LIFETIME: Duration = Duration::minutes(10);
/// Clock skew forgiven between the client and us.
const LEEWAY_SECONDS: u64 = 30;
/// At most this many keys at once (two or three during a rotation).
const MAX_KEYS: usize = 10;
const MAX_JWKS_BYTES: usize = 16 * 1024;
/// A request object is a URL parameter: browsers and proxies cut URLs not far above this.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
const MAX_JTI: usize = 128;

/// What a client's signed request says, checked.
#[derive(Debug, Clone)]
pub struct RequestObject {
    /// The request's parameters: only these count (RFC 9101 section 6.3).
    pub params: AuthorizeParams,
    pub jti: String,
    pub expires_at: OffsetDateTime,
    /// The client's person it names, with the contact details the client states.
    pub subject: Option<SubjectDetails>,
}

/// Checks the keys a client registers: a JWKS of public signing keys only, each one this
/// service can verify with. Answers the set as it will be stored.
pub fn check_keys(jwks: &Value) -> DomainResult<String> {
    let invalid = |reason: &str| DomainError::InvalidRequest(format!("jwks: {reason}"));
    let raw = serde_json::to_string(jwks).map_err(|_| invalid("not JSON"))?;
    if raw.len() > MAX_JWKS_BYTES {
        return Err(invalid("too large"));
    }
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("a JSON object with a \"keys\" array"))?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(invalid("between 1 and 10 keys"));
    }
    for key in keys {
        // a private key pasted by mistake must not be kept (nor can it be of use here)
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|f| key.get(f).is_some())
        {
            return Err(invalid("public keys only: a key holds private material"));
        }
        let jwk: Jwk = serde_json::from_value(key.clone())
            .map_err(|_| invalid("a key is not a JWK this service can use"))?;
        algorithm_of(&jwk).ok_or_else(|| {
            invalid("each key must be EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA of 2048 bits or more (RS256)")
        })?;
        DecodingKey::from_jwk(&jwk).map_err(|_| invalid("a key does not parse"))?;
    }
    Ok(raw)
}

/// The one algorithm a key signs with here, if it is one we accept.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        AlgorithmParameters::RSA(rsa) => {
            use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
            let modulus = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).ok()?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            // 8192 bits at most: larger keys are refused by the verifier (and cost more)
            (2048..=8192).contains(&bits).then_some(Algorithm::RS256)
        }
        _ => None,
    }
}

/// Checks a client's request object: its signature by one of the client's keys, that it is
/// meant for us and this client, its age, and its parameters' shapes. Every failure is told
/// to the person, never to the client's redirect URI: until the signature holds, nothing in
/// the object (its `redirect_uri` least of all) can be trusted.
pub fn verify(
    client: &ClientRecord,
    issuer: &str,
    jwt: &str,
    now: OffsetDateTime,
) -> Result<RequestObject, &'static str> {
    const NOT_SIGNED: &str = "The application's signed request could not be checked: it is not signed by a key the application registered.";
    const BAD: &str = "The application's signed request is not valid.";
    if jwt.len() > MAX_REQUEST_BYTES {
        return Err(BAD);
    }
    let Some(jwks) = client.jwks.as_deref() else {
        return Err("This application has not registered keys to sign its requests with.");
    };
    let set: JwkSet = serde_json::from_str(jwks).map_err(|_| NOT_SIGNED)?;
    // an unsigned object (`alg: none`) is not a header jsonwebtoken reads: refused here
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| NOT_SIGNED)?;
    // a request object, or a plain JWT: never another kind of token signed by the same key
    if !header.typ.as_deref().is_none_or(|t| {
        t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("oauth-authz-req+jwt")
    }) {
        return Err(BAD);
    }
    let candidates = set.keys.iter().filter(|k| {
        algorithm_of(k) == Some(header.alg)
            && match (&header.kid, &k.common.key_id) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            }
    });
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.set_audience(&[issuer]);
    validation.set_issuer(&[client.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    // the service's clock judges the age below, not the wall clock jsonwebtoken would read
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = candidates
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .find_map(|key| jsonwebtoken::decode::<Map<String, Value>>(jwt, &key, &validation).ok())
        .ok_or(NOT_SIGNED)?
        .claims;
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
        .ok_or(BAD)?;
    let leeway = Duration::seconds(LEEWAY_SECONDS as i64);
    if expires_at + leeway < now {
        return Err("The application's signed request has expired. Go back and try again.");
    }
    if expires_at > now + MAX_LIFETIME + leeway {
        return Err("The application's signed request is valid for too long (10 minutes at most).");
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or("The application's signed request has no usable jti (each request is used once).")?
        .to_owned();
    if claims
        .get("client_id")
        .is_some_and(|c| c.as_str() != Some(client.client_id.as_str()))
    {
        return Err(BAD);
    }
    let subject = match claims.get("deadbolt_subject") {
        None => None,
        // as a library that carries every request parameter as a string sends it
        // (openid-client's buildAuthorizationUrlWithJAR): the object's JSON text
        Some(Value::String(text)) => Some(serde_json::from_str::<SubjectDetails>(text)),
        Some(object) => Some(serde_json::from_value::<SubjectDetails>(object.clone())),
    }
    .transpose()
    .map_err(|_| {
        "The application's signed request names its user in a form this service does not read."
    })?;
    // one object at a time: none may carry another
    if claims.contains_key("request") {
        return Err(BAD);
    }
    let text = |name: &str| -> Result<Option<String>, &'static str> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // max_age is a number in JSON (OpenID Connect Core 6.1); read as the query has it
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(BAD),
        }
    };
    let params = AuthorizeParams {
        client_id: Some(client.client_id.clone()),
        redirect_uri: text("redirect_uri")?,
        response_type: text("response_type")?,
        response_mode: text("response_mode")?,
        scope: text("scope")?,
        state: text("state")?,
        nonce: text("nonce")?,
        code_challenge: text("code_challenge")?,
        code_challenge_method: text("code_challenge_method")?,
        prompt: text("prompt")?,
        max_age: text("max_age")?,
        acr_values: text("acr_values")?,
        login_hint: text("login_hint")?,
        request: None,
        request_uri: text("request_uri")?,
        registration: text("registration")?,
    };
    Ok(RequestObject {
        params,
        jti,
        expires_at,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn only_public_signing_keys_of_known_kinds_are_registered() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": X});
        assert!(check_keys(&json!({"keys": [ed]})).is_ok());
        let refused = [
            json!({"keys": []}),
            json!([ed]),
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "d": X}]}),
            json!({"keys": [{"kty": "oct", "k": X}]}),
            // 1024 bits: too small
            json!({"keys": [{"kty": "RSA", "e": "AQAB", "n": b64(&[0xc5; 128])}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-384", "x": X, "y": X}]}),
            json!({"keys": vec![ed.clone(); 11]}),
        ];
        for jwks in refused {
            assert!(
                matches!(check_keys(&jwks), Err(DomainError::InvalidRequest(_))),
                "{jwks}"
            );
        }
        let rsa = json!({"kty": "RSA", "e": "AQAB", "n": b64(&[0xc5; 256])});
        assert!(check_keys(&json!({"keys": [rsa]})).is_ok(), "2048 bits");
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        URL_SAFE_NO_PAD.encode(bytes)
    }
}
