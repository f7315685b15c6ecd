//! One-time numeric codes sent to a channel (email now; SMS and voice later): how they are made,
//! how they are stored, and when a submitted code is accepted.

use crate::ids::AccountId;
use crate::random::{Random, RandomExt};
use crate::secret::Secret;
use crate::token::{TokenHash, TokenHasher};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long a code lives.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Wrong tries a single code survives.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// What a code proves; part of its hash so a code for one purpose never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    VerifyEmail,
    VerifyPhone,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::VerifyPhone => "verify_phone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify_email" => Some(Self::VerifyEmail),
            "verify_phone" => Some(Self::VerifyPhone),
            _ => None,
        }
    }
}

/// A fresh uniformly random 6-digit code (leading zeros kept).
pub fn generate(rng: &dyn Random) -> Secret {
    Secret::new(format!("{:06}", rng.below(1_000_000)))
}

/// True when `raw` is exactly six ASCII digits.
pub fn is_well_formed(raw: &str) -> bool {
    raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit())
}

/// The stored form: keyed hash of (purpose, account, code).
pub fn hash(
    hasher: &TokenHasher,
    purpose: CodePurpose,
    account: AccountId,
    code: &Secret,
) -> TokenHash {
    hasher.hash(&[
        b"code",
        purpose.as_str().as_bytes(),
        account.0.as_bytes(),
        code.expose().as_bytes(),
    ])
}

/// A stored code as the rules need to see it.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub hash: Vec<u8>,
    pub expires_at: OffsetDateTime,
    pub attempts: u32,
    pub consumed: bool,
}

/// What a submitted code does to a stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code, still live: consume it.
    Accept,
    /// Wrong code on a live one: count the attempt.
    Reject,
    /// Expired, used, or out of attempts: nothing to count, the answer is no.
    Dead,
}

pub fn check(stored: &StoredCode, submitted: &TokenHash, now: OffsetDateTime) -> CodeCheck {
    if stored.consumed || now >= stored.expires_at || stored.attempts >= MAX_CODE_ATTEMPTS {
        return CodeCheck::Dead;
    }
    if submitted.matches(&stored.hash) {
        CodeCheck::Accept
    } else {
        CodeCheck::Reject
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;
    use uuid::Uuid;

    #[test]
    fn codes_are_six_digits() {
        let rng = SeededRandom::new(3);
        for _ in 0..200 {
            assert!(is_well_formed(generate(&rng).expose()));
        }
        assert!(!is_well_formed("12345"));
        assert!(!is_well_formed("12345a"));
        assert!(!is_well_formed("１２３４５６"));
    }

    #[test]
    fn check_rules() {
        let h = TokenHasher::new([9; 32]);
        let acct = AccountId(Uuid::nil());
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let code = Secret::new("123456");
        let stored = StoredCode {
            hash: hash(&h, CodePurpose::VerifyEmail, acct, &code).0.to_vec(),
            expires_at: now + CODE_TTL,
            attempts: 0,
            consumed: false,
        };
        let right = hash(&h, CodePurpose::VerifyEmail, acct, &code);
        let wrong = hash(&h, CodePurpose::VerifyEmail, acct, &Secret::new("654321"));
        let other_purpose = hash(&h, CodePurpose::VerifyPhone, acct, &code);
        assert_eq!(check(&stored, &right, now), CodeCheck::Accept);
        assert_eq!(check(&stored, &wrong, now), CodeCheck::Reject);
        assert_eq!(check(&stored, &other_purpose, now), CodeCheck::Reject);
        assert_eq!(check(&stored, &right, now + CODE_TTL), CodeCheck::Dead);
        let spent = StoredCode {
            attempts: MAX_CODE_ATTEMPTS,
            ..stored.clone()
        };
        assert_eq!(check(&spent, &right, now), CodeCheck::Dead);
        let used = StoredCode {
            consumed: true,
            ..stored
        };
        assert_eq!(check(&used, &right, now), CodeCheck::Dead);
    }
}
