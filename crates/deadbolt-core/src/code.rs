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
    ResetPassword,
    /// Proves the channel of a second-factor method being enrolled (scoped to the method).
    EnrollMethod,
    /// A second factor for one challenge (scoped to the method and the challenge).
    SecondFactor,
    /// Proves a new email address before it replaces the old one (sent to the new one).
    ChangeEmail,
    /// Proves a new phone number before it replaces the old one.
    ChangePhone,
}

impl CodePurpose {
    const ALL: [Self; 7] = [
        Self::VerifyEmail,
        Self::VerifyPhone,
        Self::ResetPassword,
        Self::EnrollMethod,
        Self::SecondFactor,
        Self::ChangeEmail,
        Self::ChangePhone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::VerifyPhone => "verify_phone",
            Self::ResetPassword => "reset_password",
            Self::EnrollMethod => "enroll_method",
            Self::SecondFactor => "second_factor",
            Self::ChangeEmail => "change_email",
            Self::ChangePhone => "change_phone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Codes anyone can have sent (sign-up, resends, password reset) count against hourly caps
    /// of their own: otherwise a stranger could use up the caps of a user's second factor.
    pub fn is_unauthenticated(self) -> bool {
        matches!(
            self,
            Self::VerifyEmail | Self::VerifyPhone | Self::ResetPassword
        )
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

/// Limits on sending codes: a wait between sends, and hourly caps per account and per
/// destination (so nobody can pump messages to numbers or addresses at our cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResendPolicy {
    pub resend_after_seconds: i64,
    pub max_per_hour_per_account: u32,
    pub max_per_hour_per_destination: u32,
}

impl Default for ResendPolicy {
    fn default() -> Self {
        Self {
            resend_after_seconds: 60,
            max_per_hour_per_account: 10,
            max_per_hour_per_destination: 5,
        }
    }
}

/// What was sent lately, as the store counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentLately {
    pub last_to_account: Option<OffsetDateTime>,
    pub to_account_last_hour: u32,
    pub to_destination_last_hour: u32,
    /// The oldest send within the hour, to either: when a cap reopens.
    pub oldest_in_hour: Option<OffsetDateTime>,
}

/// Why a send is refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendRefusal {
    TooSoon(Duration),
    Capped(Duration),
}

impl ResendPolicy {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=3600).contains(&self.resend_after_seconds) {
            out.push((
                "resend_after_seconds",
                "must be between 1 and 3600".to_owned(),
            ));
        }
        if self.max_per_hour_per_account == 0 {
            out.push(("max_per_hour_per_account", "must be at least 1".to_owned()));
        }
        if self.max_per_hour_per_destination == 0 {
            out.push((
                "max_per_hour_per_destination",
                "must be at least 1".to_owned(),
            ));
        }
        out
    }

    pub fn check(&self, sent: SentLately, now: OffsetDateTime) -> Result<(), ResendRefusal> {
        if let Some(last) = sent.last_to_account {
            let ready = last + Duration::seconds(self.resend_after_seconds);
            if now < ready {
                return Err(ResendRefusal::TooSoon(ready - now));
            }
        }
        if sent.to_account_last_hour >= self.max_per_hour_per_account
            || sent.to_destination_last_hour >= self.max_per_hour_per_destination
        {
            let reopens = sent
                .oldest_in_hour
                .map_or(now + Duration::HOUR, |t| t + Duration::HOUR);
            return Err(ResendRefusal::Capped((reopens - now).max(Duration::SECOND)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;
    use uuid::Uuid;

    #[test]
    fn resend_waits_and_hourly_caps() {
        let p = ResendPolicy::default();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        assert_eq!(p.check(SentLately::default(), now), Ok(()));
        let recent = SentLately {
            last_to_account: Some(now - Duration::seconds(20)),
            to_account_last_hour: 1,
            to_destination_last_hour: 1,
            oldest_in_hour: Some(now - Duration::seconds(20)),
        };
        assert_eq!(
            p.check(recent, now),
            Err(ResendRefusal::TooSoon(Duration::seconds(40)))
        );
        let capped = SentLately {
            last_to_account: Some(now - Duration::minutes(5)),
            to_account_last_hour: 3,
            to_destination_last_hour: 5,
            oldest_in_hour: Some(now - Duration::minutes(50)),
        };
        assert_eq!(
            p.check(capped, now),
            Err(ResendRefusal::Capped(Duration::minutes(10)))
        );
        let fine = SentLately {
            to_destination_last_hour: 4,
            ..capped
        };
        assert_eq!(p.check(fine, now), Ok(()));
    }

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
