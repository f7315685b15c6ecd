//! The RS256 signing key. OpenID Connect requires every provider to sign ID tokens with RS256
//! for the clients that ask for it, so the service keeps a 2048-bit RSA key beside its Ed25519
//! one, stored (sealed under the master key like every service key) as the PKCS#1
//! `RSAPrivateKey` DER, public exponent 65537. The `rsa` crate makes it; ring checks and expands
//! it once when it is opened and signs with it (ring's private-key arithmetic is constant-time,
//! the `rsa` crate's is not).

use super::VerifyingKey;
use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use rsa::pkcs1::EncodeRsaPrivateKey;
use time::OffsetDateTime;
use zeroize::Zeroizing;

const BITS: usize = 2048;

/// The live RS256 key, expanded for signing.
pub struct RsaSigningKey {
    pub kid: String,
    pair: RsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigningKey {
    pub(super) fn new(kid: String, pair: RsaKeyPair) -> Self {
        Self {
            kid,
            pair,
            rng: ring::rand::SystemRandom::new(),
        }
    }

    /// The RSASSA-PKCS1-v1_5 signature, over SHA-256, of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)?;
        Ok(signature)
    }
}

/// Parses the DER of the key `kid` (ring checks it is a consistent key of 2048 bits or more):
/// the key pair, and the public half as it verifies and is published.
pub(super) fn open(
    kid: &str,
    der: &[u8],
    verify_until: Option<OffsetDateTime>,
) -> anyhow::Result<(RsaKeyPair, VerifyingKey)> {
    let pair = RsaKeyPair::from_der(der)
        .map_err(|e| anyhow::anyhow!("service key {kid} is not a usable RSA key: {e}"))?;
    let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    // ring gives both big-endian without leading zeros, as RFC 7518 wants them
    let n = URL_SAFE_NO_PAD.encode(&public.n);
    let e = URL_SAFE_NO_PAD.encode(&public.e);
    let verifying = VerifyingKey {
        kid: kid.to_owned(),
        alg: Algorithm::RS256,
        key: DecodingKey::from_rsa_raw_components(&public.n, &public.e),
        jwk: serde_json::json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": n, "e": e,
        }),
        verify_until,
    };
    Ok((pair, verifying))
}

/// A new key, as its PKCS#1 DER. Finding two 1024-bit primes takes from a tenth of a second to
/// over a second, so it runs on a blocking thread, with the operating system's generator.
pub(super) async fn generate() -> anyhow::Result<Zeroizing<Vec<u8>>> {
    tokio::task::spawn_blocking(generate_now)
        .await
        .context("RSA key generation stopped")?
}

fn generate_now() -> anyhow::Result<Zeroizing<Vec<u8>>> {
    // without the `std` feature, the rsa crate's errors are not std errors
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, BITS)
        .map_err(|e| anyhow::anyhow!("making an RSA key: {e}"))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| anyhow::anyhow!("encoding an RSA key: {e}"))?;
    // a key ring would refuse must never be stored: every instance would fail to load it
    RsaKeyPair::from_der(der.as_bytes())
        .map_err(|e| anyhow::anyhow!("a new RSA key was refused: {e}"))?;
    Ok(Zeroizing::new(der.as_bytes().to_vec()))
}
