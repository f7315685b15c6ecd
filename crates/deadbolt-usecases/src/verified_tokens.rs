//! Access tokens whose signature one set of signing keys has already verified.
//!
//! An Ed25519 verification (about 50 µs) was more than half of the server's CPU time on every
//! authenticated call, which then paid it again for a token it had checked a moment before: a
//! client sends the same access token until it expires. A token is an immutable string, so the
//! outcome of checking its signature, issuer and audience never changes; what can change is
//! whether its key still verifies and whether it has expired, and both are checked again on
//! every use. Whether its session is live is the store's answer, asked on every call as before.
//!
//! The cache belongs to one `SigningKeys` snapshot: when the keys change (a rotation), the new
//! snapshot starts empty. Only tokens that verified are entered, so an unauthenticated client
//! cannot fill it; it holds at most [`CAPACITY`] entries, found by the SHA-256 of the whole
//! token (a second preimage would be needed to pass for a verified token).

use crate::claims::AccessClaims;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// About 5 MB at most (a digest and the claims per entry); enough for the tokens of every
/// client active within an access token's life on a busy instance. When it is full, expired
/// entries go, and if fewer than half of them had, all do (so a sweep comes at most once per
/// CAPACITY / 2 insertions and costs little per call): a token not found is verified in full,
/// as without the cache.
pub const CAPACITY: usize = 16_384;

/// A verified token: the key that signed it and its claims.
#[derive(Clone)]
pub struct Verified {
    pub kid: String,
    pub claims: AccessClaims,
}

#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Verified>>,
}

impl VerifiedTokens {
    pub fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<Verified> {
        self.lock().get(key).cloned()
    }

    pub fn insert(&self, key: [u8; 32], verified: Verified, now_unix: i64) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.retain(|_, v| v.claims.exp > now_unix);
            if entries.len() >= CAPACITY / 2 {
                entries.clear();
            }
        }
        entries.insert(key, verified);
    }

    pub fn remove(&self, key: &[u8; 32]) {
        self.lock().remove(key);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Verified>> {
        // a panic elsewhere leaves whole entries behind: the map is still sound
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
