//! High-entropy opaque tokens (refresh tokens, later device tokens and API keys) and the keyed
//! hash under which they are stored: a database leak alone cannot turn a row back into a token.

use crate::random::{Random, RandomExt};
use crate::secret::Secret;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A new token: `prefix` + 256 random bits in base64url. The prefix tells humans and secret
/// scanners what the token is.
pub fn generate(prefix: &str, rng: &dyn Random) -> Secret {
    let bytes = rng.bytes::<32>();
    Secret::new(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Keyed SHA-256 (HMAC) of a token or code. The key lives encrypted under the master key.
#[derive(Clone)]
pub struct TokenHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHasher(***)")
    }
}

impl Drop for TokenHasher {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// The stored form of a token: 32 bytes, compared in constant time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Constant-time comparison against a stored hash.
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == 32 && bool::from(self.0.ct_eq(stored))
    }
}

impl TokenHasher {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Hashes the parts with a length prefix each, so ("ab","c") and ("a","bc") differ.
    pub fn hash(&self, parts: &[&[u8]]) -> TokenHash {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        TokenHash(mac.finalize().into_bytes().into())
    }

    pub fn hash_token(&self, token: &Secret) -> TokenHash {
        self.hash(&[b"token", token.expose().as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn tokens_are_prefixed_and_long() {
        let rng = SeededRandom::new(1);
        let t = generate("rt_", &rng);
        assert!(t.expose().starts_with("rt_"));
        assert_eq!(t.expose().len(), 3 + 43);
        assert_ne!(t, generate("rt_", &rng));
    }

    #[test]
    fn hash_is_keyed_and_unambiguous() {
        let a = TokenHasher::new([1; 32]);
        let b = TokenHasher::new([2; 32]);
        let t = Secret::new("rt_x");
        assert_ne!(a.hash_token(&t), b.hash_token(&t));
        assert_ne!(a.hash(&[b"ab", b"c"]), a.hash(&[b"a", b"bc"]));
        let h = a.hash_token(&t);
        assert!(h.matches(&h.0));
        assert!(!h.matches(&b.hash_token(&t).0));
        assert!(!h.matches(&h.0[..31]));
    }
}
