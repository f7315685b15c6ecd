//! The service keys every instance shares: the two keys that sign tokens (Ed25519 for
//! Deadbolt's own tokens and for OpenID Connect clients that take EdDSA, RSA for those that ask
//! for RS256, see `keyring/rs256.rs`) and the key that hashes opaque tokens and codes. All live
//! sealed in the database; the first instance to start makes them. The signing keys rotate together
//! (`deadbolt keys rotate --signing`): the new keys sign at once, every instance following
//! within [`WATCH_EVERY`], and the old ones verify until the longest-lived token they signed has
//! expired, then go from the JWKS.
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
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;
use zeroize::Zeroizing;

mod rs256;
#[cfg(test)]
mod tests;

pub use rs256::RsaSigningKey;

pub(crate) const SIGNING: &str = "jwt_ed25519";
pub(crate) const SIGNING_RS256: &str = "jwt_rs256";
const HASHING: &str = "token_hmac";

/// A key that can verify tokens, as published in the JWKS.
pub struct VerifyingKey {
    pub kid: String,
    /// EdDSA or RS256: a token verifies only under its key's own algorithm.
    pub alg: Algorithm,
    pub key: DecodingKey,
    /// The public key as the JWKS lists it.
    pub jwk: serde_json::Value,
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
    /// The live Ed25519 key's id.
    pub kid: String,
    /// The live Ed25519 key, expanded once: tokens are signed with it directly.
    pub key: ed25519_dalek::SigningKey,
    /// The live RSA key, for OpenID Connect clients registered with RS256.
    pub rsa: RsaSigningKey,
    /// Every key that may verify, Ed25519 and RSA, by `kid`: the live ones and retired ones.
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
        let signing_records = SigningRecords {
            ed25519: ensure(store, master, clock, rng, SIGNING).await?,
            rs256: ensure(store, master, clock, rng, SIGNING_RS256).await?,
        };
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
        let records = SigningRecords::load(store).await?;
        if records.fingerprint() != self.signing().seen {
            let fresh = signing_keys(master, &records)?;
            let (kid, rs256_kid) = (fresh.kid.clone(), fresh.rsa.kid.clone());
            *self.signing.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
            tracing::info!(kid, rs256_kid, "signing keys changed");
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

    /// The JWK Set: every key that may have signed a token still in use, the live ones first
    /// (Ed25519, then RSA).
    pub fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        let signing = self.signing();
        let mut keys: Vec<&VerifyingKey> = signing
            .verifying
            .values()
            .filter(|k| k.verifies_at(now))
            .collect();
        // a stable order, so that every instance serves the same document
        keys.sort_by_key(|k| (k.verify_until.is_some(), k.alg != Algorithm::EdDSA, &k.kid));
        serde_json::json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() })
    }
}

/// The stored signing keys of both kinds, each live first.
struct SigningRecords {
    ed25519: Vec<KeyRecord>,
    rs256: Vec<KeyRecord>,
}

impl SigningRecords {
    async fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(Self {
            ed25519: store.keys(SIGNING).await?,
            rs256: store.keys(SIGNING_RS256).await?,
        })
    }

    fn all(&self) -> impl Iterator<Item = &KeyRecord> {
        self.ed25519.iter().chain(&self.rs256)
    }

    fn fingerprint(&self) -> Vec<(String, Option<OffsetDateTime>)> {
        let mut seen = fingerprint(&self.ed25519);
        seen.extend(fingerprint(&self.rs256));
        seen
    }
}

fn fingerprint(records: &[KeyRecord]) -> Vec<(String, Option<OffsetDateTime>)> {
    records
        .iter()
        .map(|r| (r.id.clone(), r.verify_until))
        .collect()
}

/// Opens the signing keys: the live one of each kind signs; they and the retired ones verify.
fn signing_keys(master: &MasterKeys, records: &SigningRecords) -> anyhow::Result<SigningKeys> {
    let mut verifying = HashMap::new();
    let mut live = None;
    for r in &records.ed25519 {
        let seed = Zeroizing::new(open_key(master, r)?);
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        verifying.insert(r.id.clone(), ed25519_verifying(r, &sk)?);
        if r.retired_at.is_none() && live.is_none() {
            live = Some((r.id.clone(), sk));
        }
    }
    let mut live_rsa = None;
    for r in &records.rs256 {
        let der = open_sealed(master, r)?;
        let (pair, key) = rs256::open(&r.id, &der, verify_until(r))?;
        verifying.insert(r.id.clone(), key);
        if r.retired_at.is_none() && live_rsa.is_none() {
            live_rsa = Some(RsaSigningKey::new(r.id.clone(), pair));
        }
    }
    let (kid, key) = live.context("no live signing key")?;
    Ok(SigningKeys {
        kid,
        key,
        rsa: live_rsa.context("no live RS256 signing key")?,
        verifying,
        verified: Default::default(),
        seen: records.fingerprint(),
    })
}

fn ed25519_verifying(
    r: &KeyRecord,
    sk: &ed25519_dalek::SigningKey,
) -> anyhow::Result<VerifyingKey> {
    let x = URL_SAFE_NO_PAD.encode(sk.verifying_key().to_bytes());
    let key = DecodingKey::from_ed_components(&x).context("Ed25519 public key")?;
    Ok(VerifyingKey {
        kid: r.id.clone(),
        alg: Algorithm::EdDSA,
        key,
        jwk: serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": r.id, "x": x,
        }),
        verify_until: verify_until(r),
    })
}

/// None for the live key; a retired key from before retirements had an end verifies no longer.
fn verify_until(r: &KeyRecord) -> Option<OffsetDateTime> {
    r.retired_at
        .map(|_| r.verify_until.unwrap_or(OffsetDateTime::UNIX_EPOCH))
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
    let record = new_key(master, rng, HASHING, now).await?;
    store.rotate_hashing_key(&record, now, verify_until).await?;
    Ok(record.id)
}

/// The ids of the signing keys a rotation made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigningKeys {
    pub ed25519: String,
    pub rs256: String,
}

/// New live signing keys, Ed25519 and RSA, in place of the current ones, which verify until
/// `verify_until` (now, when they leaked). Every instance signs with the new keys within
/// [`WATCH_EVERY`]. Both kinds rotate together: a leak rarely spares one, and one command
/// keeps their lives in step.
pub async fn rotate_signing(
    store: &Store,
    master: &MasterKeys,
    rng: &dyn Random,
    now: OffsetDateTime,
    verify_until: OffsetDateTime,
) -> anyhow::Result<NewSigningKeys> {
    // the keys in force must open under this master key file: sealing the new keys under a
    // file the instances do not have would leave them unable to load them
    for r in SigningRecords::load(store).await?.all() {
        open_sealed(master, r)?;
    }
    let ed25519 = new_key(master, rng, SIGNING, now).await?;
    let rs256 = new_key(master, rng, SIGNING_RS256, now).await?;
    store
        .rotate_keys(&[ed25519.clone(), rs256.clone()], now, verify_until)
        .await?;
    Ok(NewSigningKeys {
        ed25519: ed25519.id,
        rs256: rs256.id,
    })
}

/// How often an instance looks for a service key rotated by another process.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn aad(r: &KeyRecord) -> Vec<u8> {
    format!("deadbolt/service_keys/{}/{}", r.kind, r.id).into_bytes()
}

pub(crate) fn key_aad(r: &KeyRecord) -> Vec<u8> {
    aad(r)
}

/// Opens one of the 32-byte keys: the Ed25519 seed or the hashing key.
fn open_key(master: &MasterKeys, r: &KeyRecord) -> anyhow::Result<[u8; 32]> {
    open_sealed(master, r)?
        .as_slice()
        .try_into()
        .context("service key must be 32 bytes")
}

/// Opens a key of any kind, as stored.
fn open_sealed(master: &MasterKeys, r: &KeyRecord) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let sealed = Sealed {
        nonce: r.nonce.clone(),
        ciphertext: r.ciphertext.clone(),
    };
    master
        .open(&r.master_key_id, &sealed, &aad(r))
        .with_context(|| {
            format!(
                "service key {} is sealed by master key {}",
                r.id, r.master_key_id
            )
        })
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
    let record = new_key(master, rng, kind, clock.now()).await?;
    // Losing a race to another instance is fine: read back whichever key won.
    store.insert_key_if_absent(&record).await?;
    Ok(store.keys(kind).await?)
}

/// A fresh key of `kind`, sealed under the current master key. The RSA key comes from the
/// operating system's generator, the others from `rng`.
async fn new_key(
    master: &MasterKeys,
    rng: &dyn Random,
    kind: &str,
    now: OffsetDateTime,
) -> anyhow::Result<KeyRecord> {
    if kind == SIGNING_RS256 {
        let der = rs256::generate().await?;
        return seal_key(master, rng, kind, now, &der);
    }
    seal_key(
        master,
        rng,
        kind,
        now,
        Zeroizing::new(rng.bytes::<32>()).as_slice(),
    )
}

fn seal_key(
    master: &MasterKeys,
    rng: &dyn Random,
    kind: &str,
    now: OffsetDateTime,
    secret: &[u8],
) -> anyhow::Result<KeyRecord> {
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
    let (key_id, sealed) = master.seal(secret, &aad(&record), rng)?;
    record.master_key_id = key_id;
    record.nonce = sealed.nonce;
    record.ciphertext = sealed.ciphertext;
    Ok(record)
}
