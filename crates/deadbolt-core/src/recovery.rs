//! Recovery codes: the single-use codes shown once when MFA is turned on, for the day the other
//! factors are lost.
//!
//! Each is 80 random bits written as 16 Crockford base32 characters, `xxxx-xxxx-xxxx-xxxx`: easy
//! to read aloud and to type, forgiving of look-alike letters, and far past the 64 bits that make
//! guessing hopeless even before rate limits. They are stored with Argon2id (as users asked) next
//! to a keyed [`lookup_key`], so that checking one costs one Argon2 hash, not one per stored code.

use crate::ids::AccountId;
use crate::random::{Random, RandomExt};
use crate::secret::Secret;
use crate::token::{TokenHash, TokenHasher};
use zeroize::Zeroize;

/// Codes in a fresh set.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Characters in a normalized code: 16 × 5 bits = 80 bits.
const CODE_CHARS: usize = 16;

/// Crockford's base32 alphabet: no `i`, `l`, `o` (they read as `1`, `1`, `0`) and no `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh code, shown as `xxxx-xxxx-xxxx-xxxx`.
pub fn generate(rng: &dyn Random) -> Secret {
    let mut bytes = rng.bytes::<10>();
    let mut bits = bytes
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    bytes.zeroize();
    let mut out = String::with_capacity(CODE_CHARS + 3);
    for i in 0..CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 5 * (CODE_CHARS - 1 - i);
        out.push(char::from(ALPHABET[((bits >> shift) & 0x1f) as usize]));
    }
    bits.zeroize();
    Secret::new(out)
}

/// What a user typed, as the canonical 16 characters that are hashed and stored, or `None` when it
/// cannot be a recovery code. Spaces (any ASCII whitespace, as copy and paste brings) and hyphens
/// are dropped, case is ignored, and Crockford's look-alikes are read as the digit they resemble:
/// `o` as `0`, `i` and `l` as `1`.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in input.chars() {
        if c == '-' || c.is_ascii_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        // Stop early: an over-long input costs no more than a right one.
        if out.len() == CODE_CHARS {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// The keyed hash that finds the one stored row a submitted code may match, so that only that row
/// is verified with Argon2. Bound to the account: the same code for two accounts has two keys.
pub fn lookup_key(hasher: &TokenHasher, account: AccountId, normalized: &str) -> TokenHash {
    hasher.hash(&[b"recovery", account.0.as_bytes(), normalized.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;
    use std::collections::HashSet;
    use uuid::Uuid;

    #[test]
    fn codes_are_four_groups_of_four() {
        let rng = SeededRandom::new(11);
        for _ in 0..200 {
            let code = generate(&rng);
            let code = code.expose();
            assert_eq!(code.len(), 19);
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4);
            for g in groups {
                assert_eq!(g.len(), 4);
                assert!(g.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            }
            assert_eq!(normalize(code).unwrap(), code.replace('-', ""));
        }
    }

    #[test]
    fn codes_do_not_repeat_and_use_the_whole_alphabet() {
        let rng = SeededRandom::new(12);
        let mut seen = HashSet::new();
        let mut chars = HashSet::new();
        for _ in 0..10_000 {
            let code = generate(&rng);
            chars.extend(code.expose().bytes().filter(|&b| b != b'-'));
            assert!(seen.insert(code.expose().to_owned()));
        }
        assert_eq!(chars.len(), 32);
    }

    #[test]
    fn encoding_is_big_endian_five_bit_groups() {
        struct Fixed([u8; 10]);
        impl Random for Fixed {
            fn fill(&self, buf: &mut [u8]) {
                buf.copy_from_slice(&self.0);
            }
        }
        assert_eq!(generate(&Fixed([0; 10])).expose(), "0000-0000-0000-0000");
        assert_eq!(generate(&Fixed([0xff; 10])).expose(), "zzzz-zzzz-zzzz-zzzz");
        // 0x08 0x86 0x40 ... = 00001 00010 00011 00100 ...: the first chars are 1, 2, 3, 4.
        let mut bytes = [0u8; 10];
        bytes[..3].copy_from_slice(&[0x08, 0x86, 0x40]);
        assert_eq!(generate(&Fixed(bytes)).expose(), "1234-0000-0000-0000");
    }

    #[test]
    fn normalization_forgives_how_it_was_typed() {
        let canonical = Some("0123456789abcdef".to_owned());
        assert_eq!(normalize("0123-4567-89ab-cdef"), canonical);
        assert_eq!(normalize("0123456789abcdef"), canonical);
        assert_eq!(normalize(" 0123 4567 89AB CDEF\n"), canonical);
        assert_eq!(normalize("O123-4567-89aB-cdef"), canonical);
        assert_eq!(
            normalize("oIL3-4567-89ab-cdef"),
            Some("0113456789abcdef".to_owned())
        );
        assert_eq!(normalize("0123--4567\t89ab-cdef"), canonical);
    }

    #[test]
    fn normalization_refuses_what_cannot_be_a_code() {
        for bad in [
            "",
            "----",
            "0123-4567-89ab-cde",
            "0123-4567-89ab-cdef0",
            "0123-4567-89ab-cdeu",
            "0123-4567-89ab-cde!",
            "0123_4567_89ab_cdef",
            "０123-4567-89ab-cdef",
            "0123-4567-89ab-cdé",
            "0123-4567-89ab-cdef-0123-4567-89ab-cdef",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lookup_keys_are_per_account_and_per_code() {
        let h = TokenHasher::new([5; 32]);
        let a = AccountId(Uuid::from_u128(1));
        let b = AccountId(Uuid::from_u128(2));
        let code = "0123456789abcdef";
        assert_eq!(lookup_key(&h, a, code), lookup_key(&h, a, code));
        assert_ne!(lookup_key(&h, a, code), lookup_key(&h, b, code));
        assert_ne!(
            lookup_key(&h, a, code),
            lookup_key(&h, a, "0123456789abcdeg")
        );
        assert_ne!(
            lookup_key(&h, a, code),
            lookup_key(&TokenHasher::new([6; 32]), a, code)
        );
    }
}
