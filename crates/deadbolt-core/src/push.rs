//! Push approval with number matching: the requesting screen shows a two-digit number and the
//! approver must pick it (OWASP ASVS 5.0 6.6.4), so that an approval cannot be given by a tap
//! alone. One try per request: with 90 numbers a guess succeeds about one time in ninety.

use crate::random::{Random, RandomExt};
use subtle::ConstantTimeEq;
use time::Duration;

/// How long an approval waits for its answer.
pub const APPROVAL_TTL: Duration = Duration::minutes(2);

/// The number a push request shows on the requesting screen, 10 to 99.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MatchNumber(u8);

impl std::fmt::Debug for MatchNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MatchNumber(**)")
    }
}

impl MatchNumber {
    /// A fresh number, uniform over 10..=99.
    pub fn draw(rng: &dyn Random) -> Self {
        Self(10 + rng.below(90) as u8)
    }

    /// A stored number; None outside 10..=99.
    pub fn from_stored(n: i64) -> Option<Self> {
        u8::try_from(n)
            .ok()
            .filter(|n| (10..=99).contains(n))
            .map(Self)
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// Whether the number an approver typed is this one, in constant time (surrounding
    /// spaces allowed; anything else is simply wrong).
    pub fn matches(self, typed: &str) -> bool {
        let mut want = [0u8; 2];
        let digits = format!("{:02}", self.0);
        want.copy_from_slice(digits.as_bytes());
        let got = typed.trim().as_bytes();
        let mut padded = [0u8; 2];
        if got.len() == 2 {
            padded.copy_from_slice(got);
        }
        (got.len() == 2) & bool::from(padded.ct_eq(&want))
    }
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }
}

/// What a key-bound approver signs (Ed25519) for an answer: the approval, the number it typed
/// (empty for a denial without one) and the decision.
pub fn signed_message(approval_id: &str, number: &str, decision: Decision) -> Vec<u8> {
    format!(
        "deadbolt-approval:{approval_id}:{}:{}",
        number.trim(),
        decision.as_str()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn numbers_are_two_digits_and_all_of_them_come_up() {
        let rng = SeededRandom::new(7);
        let mut seen = [false; 100];
        for _ in 0..5000 {
            let n = MatchNumber::draw(&rng).value();
            assert!((10..=99).contains(&n));
            seen[usize::from(n)] = true;
        }
        assert!(seen[10..].iter().all(|s| *s));
    }

    #[test]
    fn only_the_exact_number_matches() {
        let n = MatchNumber::from_stored(42).unwrap();
        assert!(n.matches("42"));
        assert!(n.matches(" 42 "));
        assert!(!n.matches("24"));
        assert!(!n.matches("4"));
        assert!(!n.matches("042"));
        assert!(!n.matches(""));
        assert!(MatchNumber::from_stored(9).is_none());
        assert!(MatchNumber::from_stored(100).is_none());
        assert_eq!(format!("{n:?}"), "MatchNumber(**)");
    }

    #[test]
    fn the_signed_message_names_everything_it_decides() {
        assert_eq!(
            signed_message("a1", "42", Decision::Approve),
            b"deadbolt-approval:a1:42:approve".to_vec()
        );
        assert_eq!(Decision::parse("deny"), Some(Decision::Deny));
        assert_eq!(Decision::parse("maybe"), None);
    }
}
