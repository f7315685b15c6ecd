//! The service keys every instance shares: the Ed25519 key that signs tokens and the key that
//! hashes opaque tokens and codes. Both live sealed in the database; the first instance to start
//! makes them.

use crate::master_key::{MasterKeys, Sealed};
use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_core::clock::Clock;
use deadbolt_core::random::{Random, RandomExt};
use deadbolt_core::token::TokenHasher;
use deadbolt_store::{KeyRecord, Store};
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;

const SIGNING: &str = "jwt_ed25519";
const HASHING: &str = "token_hmac";

/// A key that can verify tokens, as published in the JWKS.
pub struct VerifyingKey {
    pub kid: String,
    pub x: String,
    pub key: DecodingKey,
}

pub struct KeyRing {
    pub signing_kid: String,
    /// The live Ed25519 key, expanded once: tokens are signed with it directly.
    pub signing: ed25519_dalek::SigningKey,
    /// Every published key by `kid`, the live one and retired ones.
    pub verifying: HashMap<String, VerifyingKey>,
    pub hasher: TokenHasher,
}

impl KeyRing {
    pub async fn load_or_create(
        store: &Store,
        master: &MasterKeys,
        clock: &dyn Clock,
        rng: &dyn Random,
    ) -> anyhow::Result<Self> {
        let signing_records = ensure(store, master, clock, rng, SIGNING).await?;
        let hashing_records = ensure(store, master, clock, rng, HASHING).await?;

        let mut verifying = HashMap::new();
        let mut live_signing = None;
        for r in &signing_records {
            let seed = open_key(master, r)?;
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            let x = URL_SAFE_NO_PAD.encode(sk.verifying_key().to_bytes());
            let key = DecodingKey::from_ed_components(&x).context("Ed25519 public key")?;
            if r.retired_at.is_none() && live_signing.is_none() {
                live_signing = Some((r.id.clone(), sk.clone()));
            }
            verifying.insert(
                r.id.clone(),
                VerifyingKey {
                    kid: r.id.clone(),
                    x,
                    key,
                },
            );
        }
        let (signing_kid, signing) = live_signing.context("no live signing key")?;
        let hash_record = hashing_records
            .iter()
            .find(|r| r.retired_at.is_none())
            .context("no live hashing key")?;
        let hasher = TokenHasher::new(open_key(master, hash_record)?);
        Ok(Self {
            signing_kid,
            signing,
            verifying,
            hasher,
        })
    }

    /// The JWK Set: every key that may have signed a token still in use.
    pub fn jwks(&self) -> serde_json::Value {
        let mut keys: Vec<&VerifyingKey> = self.verifying.values().collect();
        keys.sort_by(|a, b| {
            (a.kid != self.signing_kid, &a.kid).cmp(&(b.kid != self.signing_kid, &b.kid))
        });
        serde_json::json!({
            "keys": keys.iter().map(|k| serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.x,
            })).collect::<Vec<_>>()
        })
    }
}

fn aad(r: &KeyRecord) -> Vec<u8> {
    format!("deadbolt/service_keys/{}/{}", r.kind, r.id).into_bytes()
}

pub(crate) fn key_aad(r: &KeyRecord) -> Vec<u8> {
    aad(r)
}

fn open_key(master: &MasterKeys, r: &KeyRecord) -> anyhow::Result<[u8; 32]> {
    let sealed = Sealed {
        nonce: r.nonce.clone(),
        ciphertext: r.ciphertext.clone(),
    };
    let plain = master
        .open(&r.master_key_id, &sealed, &aad(r))
        .with_context(|| {
            format!(
                "service key {} is sealed by master key {}",
                r.id, r.master_key_id
            )
        })?;
    plain
        .as_slice()
        .try_into()
        .context("service key must be 32 bytes")
}

/// The records of `kind`, creating a live key first when there is none.
async fn ensure(
    store: &Store,
    master: &MasterKeys,
    clock: &dyn Clock,
    rng: &dyn Random,
    kind: &str,
) -> anyhow::Result<Vec<KeyRecord>> {
    let existing = store.keys(kind).await?;
    if existing.iter().any(|r| r.retired_at.is_none()) {
        return Ok(existing);
    }
    let secret = zeroize::Zeroizing::new(rng.bytes::<32>());
    let id = URL_SAFE_NO_PAD.encode(rng.bytes::<12>());
    let mut record = KeyRecord {
        id,
        kind: kind.to_owned(),
        master_key_id: String::new(),
        nonce: Vec::new(),
        ciphertext: Vec::new(),
        created_at: clock.now(),
        retired_at: None,
    };
    let (key_id, sealed) = master.seal(secret.as_slice(), &aad(&record), rng)?;
    record.master_key_id = key_id;
    record.nonce = sealed.nonce;
    record.ciphertext = sealed.ciphertext;
    // Losing a race to another instance is fine: read back whichever key won.
    store.insert_key_if_absent(&record).await?;
    Ok(store.keys(kind).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{OsRandom, SystemClock};

    #[tokio::test]
    async fn keys_are_made_once_and_only_open_under_their_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/k.db", dir.path().display()), 1).unwrap();
        store.migrate().await.unwrap();
        let master =
            MasterKeys::from_keys(vec![crate::master_key::MasterKey::from_bytes(&[1; 32])])
                .unwrap();
        let a = KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
            .await
            .unwrap();
        let b = KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom)
            .await
            .unwrap();
        assert_eq!(
            a.signing_kid, b.signing_kid,
            "a second instance reuses the stored key"
        );
        assert_eq!(a.jwks(), b.jwks());
        let other = MasterKeys::from_keys(vec![crate::master_key::MasterKey::from_bytes(&[2; 32])])
            .unwrap();
        let err = KeyRing::load_or_create(&store, &other, &SystemClock, &OsRandom)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("sealed by master key"), "{err}");
    }
}
