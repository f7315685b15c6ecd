//! The service keys every instance shares: the Ed25519 key that signs tokens and the key that
//! hashes opaque tokens and codes. Both live sealed in the database; the first instance to start
//! makes them. The signing key rotates (`deadbolt keys rotate --signing`): the new key signs at
//! once, every instance following within [`WATCH_EVERY`], and the old one verifies until the
//! longest-lived token it signed has expired, then goes from the JWKS.
//!
//! The hashing key rotates the same way (`deadbolt keys rotate --hashing`): the new key hashes
//! at once; a retired key still finds what it hashed until its `verify_until` (the longest life
//! of a refresh token or trusted device), and after that only API keys and recovery codes, which
//! have no end of their own, until the last of those that name it has been re-hashed, spent or
//! revoked (housekeeping then deletes it). What is found under a retired key is re-hashed under
//! the live one when it is used.

use crate::master_key::{MasterKeys, Sealed};
use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_core::clock::Clock;
use deadbolt_core::random::{Random, RandomExt};
use deadbolt_core::token::TokenHasher;
use deadbolt_store::{KeyRecord, Store};
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

const SIGNING: &str = "jwt_ed25519";
const HASHING: &str = "token_hmac";

/// A key that can verify tokens, as published in the JWKS.
pub struct VerifyingKey {
    pub kid: String,
    pub x: String,
    pub key: DecodingKey,
    /// A retired key verifies until then; None for the live key.
    pub verify_until: Option<OffsetDateTime>,
}

impl VerifyingKey {
    pub fn verifies_at(&self, now: OffsetDateTime) -> bool {
        self.verify_until.is_none_or(|until| now < until)
    }
}

/// The signing keys as the database held them at one moment.
pub struct SigningKeys {
    pub kid: String,
    /// The live Ed25519 key, expanded once: tokens are signed with it directly.
    pub key: ed25519_dalek::SigningKey,
    /// Every key that may verify, by `kid`: the live one and retired ones.
    pub verifying: HashMap<String, VerifyingKey>,
    /// Access tokens these keys have verified (a rotation starts afresh).
    pub verified: crate::verified_tokens::VerifiedTokens,
    /// What the rows were, to tell cheaply whether they changed.
    seen: Vec<(String, Option<OffsetDateTime>)>,
}

/// One hashing key.
pub struct HashingKey {
    pub id: String,
    pub hasher: TokenHasher,
    /// A retired key finds short- and bounded-lived things until then; None for the live key.
    pub verify_until: Option<OffsetDateTime>,
}

/// The hashing keys as the database held them at one moment: the live one first.
pub struct HashingKeys {
    keys: Vec<HashingKey>,
    seen: Vec<(String, Option<OffsetDateTime>)>,
}

impl HashingKeys {
    /// The key every new hash is made with.
    pub fn live(&self) -> &HashingKey {
        // built with the live key first, and never empty
        &self.keys[0]
    }

    /// The keys that may have hashed something with a bounded life (a refresh token, a trusted
    /// device, a page session) still in use at `now`: the live one first.
    pub fn verifying(&self, now: OffsetDateTime) -> impl Iterator<Item = &HashingKey> {
        self.keys
            .iter()
            .filter(move |k| k.verify_until.is_none_or(|until| now < until))
    }

    /// Every stored key, the live one first: API keys and recovery codes keep the key they were
    /// hashed with for as long as they live.
    pub fn all(&self) -> impl Iterator<Item = &HashingKey> {
        self.keys.iter()
    }

    /// True when `presented` is the hash of `parts` under a key that verifies at `now`.
    pub fn matches_any(&self, now: OffsetDateTime, parts: &[&[u8]], presented: &[u8]) -> bool {
        self.verifying(now)
            .any(|k| k.hasher.hash(parts).matches(presented))
    }
}

pub struct KeyRing {
    /// Replaced whole when another process rotates the signing key.
    signing: RwLock<Arc<SigningKeys>>,
    /// Replaced whole when another process rotates the hashing key.
    hashing: RwLock<Arc<HashingKeys>>,
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
        let signing = signing_keys(master, &signing_records)?;
        let hashing = hashing_keys(master, &hashing_records)?;
        Ok(Self {
            signing: RwLock::new(Arc::new(signing)),
            hashing: RwLock::new(Arc::new(hashing)),
        })
    }

    /// The hashing keys in force on this instance.
    pub fn hashing(&self) -> Arc<HashingKeys> {
        match self.hashing.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The live hashing key, which makes every new hash.
    pub fn hasher(&self) -> TokenHasher {
        self.hashing().live().hasher.clone()
    }

    /// The signing keys in force on this instance.
    pub fn signing(&self) -> Arc<SigningKeys> {
        // a poisoned lock still holds a whole set: writers only swap the Arc
        match self.signing.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reads the service keys again; when another process rotated one, the new live key signs
    /// (or hashes) from now on here too. True when they changed.
    pub async fn refresh(&self, store: &Store, master: &MasterKeys) -> anyhow::Result<bool> {
        let mut changed = false;
        let records = store.keys(SIGNING).await?;
        if fingerprint(&records) != self.signing().seen {
            let fresh = signing_keys(master, &records)?;
            let kid = fresh.kid.clone();
            *self.signing.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
            tracing::info!(kid, "signing keys changed");
            changed = true;
        }
        let records = store.keys(HASHING).await?;
        if fingerprint(&records) != self.hashing().seen {
            let fresh = hashing_keys(master, &records)?;
            let id = fresh.live().id.clone();
            *self.hashing.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
            tracing::info!(id, "hashing keys changed");
            changed = true;
        }
        Ok(changed)
    }

    /// The JWK Set: every key that may have signed a token still in use, the live one first.
    pub fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        let signing = self.signing();
        let mut keys: Vec<&VerifyingKey> = signing
            .verifying
            .values()
            .filter(|k| k.verifies_at(now))
            .collect();
        keys.sort_by(|a, b| (a.kid != signing.kid, &a.kid).cmp(&(b.kid != signing.kid, &b.kid)));
        serde_json::json!({
            "keys": keys.iter().map(|k| serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.x,
            })).collect::<Vec<_>>()
        })
    }
}

fn fingerprint(records: &[KeyRecord]) -> Vec<(String, Option<OffsetDateTime>)> {
    records
        .iter()
        .map(|r| (r.id.clone(), r.verify_until))
        .collect()
}

/// Opens the signing keys: the live one signs; it and the retired ones verify.
fn signing_keys(master: &MasterKeys, records: &[KeyRecord]) -> anyhow::Result<SigningKeys> {
    let mut verifying = HashMap::new();
    let mut live = None;
    for r in records {
        let seed = zeroize::Zeroizing::new(open_key(master, r)?);
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        let x = URL_SAFE_NO_PAD.encode(sk.verifying_key().to_bytes());
        let key = DecodingKey::from_ed_components(&x).context("Ed25519 public key")?;
        let verify_until = if r.retired_at.is_none() {
            if live.is_none() {
                live = Some((r.id.clone(), sk));
            }
            None
        } else {
            // a retired key from before retirements had an end verifies no longer
            Some(r.verify_until.unwrap_or(OffsetDateTime::UNIX_EPOCH))
        };
        verifying.insert(
            r.id.clone(),
            VerifyingKey {
                kid: r.id.clone(),
                x,
                key,
                verify_until,
            },
        );
    }
    let (kid, key) = live.context("no live signing key")?;
    Ok(SigningKeys {
        kid,
        key,
        verifying,
        verified: Default::default(),
        seen: fingerprint(records),
    })
}

/// Opens the hashing keys: the live one first, then retired ones newest first (as stored).
fn hashing_keys(master: &MasterKeys, records: &[KeyRecord]) -> anyhow::Result<HashingKeys> {
    let mut keys = Vec::with_capacity(records.len());
    for r in records {
        // the store holds one live key per kind, and lists it first
        let live = r.retired_at.is_none();
        keys.push(HashingKey {
            id: r.id.clone(),
            hasher: TokenHasher::new(*zeroize::Zeroizing::new(open_key(master, r)?)),
            verify_until: if live {
                None
            } else {
                // a retired key without an end finds only what names it
                Some(r.verify_until.unwrap_or(OffsetDateTime::UNIX_EPOCH))
            },
        });
    }
    if keys.first().is_none_or(|k| k.verify_until.is_some()) {
        anyhow::bail!("no live hashing key");
    }
    Ok(HashingKeys {
        keys,
        seen: fingerprint(records),
    })
}

/// A new live hashing key in place of the current one. The old one finds what it hashed until
/// `verify_until`, and API keys and recovery codes beyond; `None`, for a key that leaked: every
/// older hashing key is deleted, and with them all they hashed is lost.
pub async fn rotate_hashing(
    store: &Store,
    master: &MasterKeys,
    rng: &dyn Random,
    now: OffsetDateTime,
    verify_until: Option<OffsetDateTime>,
) -> anyhow::Result<String> {
    // as for signing keys: the master key file must be the one the instances load
    hashing_keys(master, &store.keys(HASHING).await?)?;
    let record = new_key(master, rng, HASHING, now)?;
    store.rotate_hashing_key(&record, now, verify_until).await?;
    Ok(record.id)
}

/// A new live signing key in place of the current one, which verifies until `verify_until`
/// (now, when it leaked). Every instance signs with the new key within [`WATCH_EVERY`].
pub async fn rotate_signing(
    store: &Store,
    master: &MasterKeys,
    rng: &dyn Random,
    now: OffsetDateTime,
    verify_until: OffsetDateTime,
) -> anyhow::Result<String> {
    // the keys in force must open under this master key file: sealing the new key under a
    // file the instances do not have would leave them unable to load it
    signing_keys(master, &store.keys(SIGNING).await?)?;
    let record = new_key(master, rng, SIGNING, now)?;
    store.rotate_key(&record, now, verify_until).await?;
    Ok(record.id)
}

/// How often an instance looks for a service key rotated by another process.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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
    let record = new_key(master, rng, kind, clock.now())?;
    // Losing a race to another instance is fine: read back whichever key won.
    store.insert_key_if_absent(&record).await?;
    Ok(store.keys(kind).await?)
}

/// A fresh random key of `kind`, sealed under the current master key.
fn new_key(
    master: &MasterKeys,
    rng: &dyn Random,
    kind: &str,
    now: OffsetDateTime,
) -> anyhow::Result<KeyRecord> {
    let secret = zeroize::Zeroizing::new(rng.bytes::<32>());
    let mut record = KeyRecord {
        id: URL_SAFE_NO_PAD.encode(rng.bytes::<12>()),
        kind: kind.to_owned(),
        master_key_id: String::new(),
        nonce: Vec::new(),
        ciphertext: Vec::new(),
        created_at: now,
        retired_at: None,
        verify_until: None,
    };
    let (key_id, sealed) = master.seal(secret.as_slice(), &aad(&record), rng)?;
    record.master_key_id = key_id;
    record.nonce = sealed.nonce;
    record.ciphertext = sealed.ciphertext;
    Ok(record)
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
            a.signing().kid,
            b.signing().kid,
            "a second instance reuses the stored key"
        );
        let now = SystemClock.now();
        assert_eq!(a.jwks(now), b.jwks(now));
        let other = MasterKeys::from_keys(vec![crate::master_key::MasterKey::from_bytes(&[2; 32])])
            .unwrap();
        let err = KeyRing::load_or_create(&store, &other, &SystemClock, &OsRandom)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("sealed by master key"), "{err}");
    }
}
