//! API keys: long random secrets an account gives to its programs. Only a keyed hash is
//! stored; the key is shown once. A short prefix of it is kept in the clear so that people can
//! tell their keys apart in a list.

use crate::random::Random;
use crate::secret::Secret;
use crate::token;
use crate::CoreError;

/// Every key starts so, which makes leaked keys easy to find by secret scanners.
pub const KEY_PREFIX: &str = "dbk_";
/// Characters of the key kept in the clear (the `dbk_` prefix and the first few random ones).
const SHOWN: usize = 12;

/// A fresh key (the token module's 256 random bits) and the part of it shown in lists.
pub fn generate(rng: &dyn Random) -> (Secret, String) {
    let key = token::generate(KEY_PREFIX, rng);
    let shown = key.expose().chars().take(SHOWN).collect();
    (key, shown)
}

/// A key's name: 1 to 64 characters, not blank.
pub fn check_name(name: &str) -> Result<String, CoreError> {
    crate::name::trimmed(name, 64).ok_or(CoreError::InvalidName)
}

/// True when `raw` could be one of our keys (anything else is refused without a lookup).
pub fn looks_like_a_key(raw: &str) -> bool {
    raw.starts_with(KEY_PREFIX) && (20..=128).contains(&raw.len()) && raw.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn keys_are_long_prefixed_and_distinct() {
        let rng = SeededRandom::new(7);
        let (a, shown) = generate(&rng);
        let (b, _) = generate(&rng);
        assert!(a.expose().starts_with("dbk_"));
        assert!(looks_like_a_key(a.expose()));
        assert!(a.expose().len() >= 40, "{}", a.expose().len());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(shown.len(), 12);
        assert!(a.expose().starts_with(&shown));
        assert!(!looks_like_a_key("sk_live_123"));
        assert!(!looks_like_a_key("dbk_short"));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  deploy bot ").unwrap(), "deploy bot");
        assert_eq!(check_name(""), Err(CoreError::InvalidName));
        assert_eq!(check_name("a\nb"), Err(CoreError::InvalidName));
        assert_eq!(check_name(&"x".repeat(65)), Err(CoreError::InvalidName));
    }
}
