//! When to try a failed delivery again.

use crate::random::{Random, RandomExt};
use serde::{Deserialize, Serialize};
use time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Tries before a message is given up as dead.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub base_delay_seconds: i64,
    /// The longest wait between tries.
    pub max_delay_seconds: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 2 s doubling to 15 min: 25 tries span about five hours of outage.
        Self {
            max_attempts: 25,
            base_delay_seconds: 2,
            max_delay_seconds: 900,
        }
    }
}

/// What to do after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_attempts == 0 {
            out.push(("max_attempts", "must be at least 1".to_owned()));
        }
        if self.base_delay_seconds < 1 {
            out.push(("base_delay_seconds", "must be at least 1".to_owned()));
        }
        if self.max_delay_seconds < self.base_delay_seconds {
            out.push((
                "max_delay_seconds",
                "must be at least base_delay_seconds".to_owned(),
            ));
        }
        out
    }

    /// `attempts_so_far` counts the try that just failed. `permanent` failures (the provider
    /// refused the message itself) are not retried. The wait has up to 25% random jitter so that
    /// a recovering provider is not hit by every instance at once.
    pub fn after_failure(
        &self,
        attempts_so_far: u32,
        permanent: bool,
        rng: &dyn Random,
    ) -> RetryDecision {
        if permanent || attempts_so_far >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let exp = attempts_so_far.saturating_sub(1).min(30);
        let base = self.base_delay_seconds.saturating_mul(1_i64 << exp);
        let capped = base.min(self.max_delay_seconds);
        let jitter_ms =
            i64::from(rng.below(u32::try_from(capped * 250).unwrap_or(u32::MAX).max(1)));
        RetryDecision::RetryAfter(Duration::seconds(capped) + Duration::milliseconds(jitter_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn doubles_then_caps_then_gives_up() {
        let p = RetryPolicy {
            max_attempts: 12,
            base_delay_seconds: 2,
            max_delay_seconds: 60,
        };
        let rng = SeededRandom::new(5);
        let wait = |n| match p.after_failure(n, false, &rng) {
            RetryDecision::RetryAfter(d) => d,
            RetryDecision::GiveUp => panic!("gave up at {n}"),
        };
        for (n, secs) in [(1, 2), (2, 4), (3, 8), (6, 60), (11, 60)] {
            let d = wait(n);
            assert!(
                d >= Duration::seconds(secs) && d <= Duration::seconds(secs) * 1.25,
                "{n}: {d}"
            );
        }
        assert_eq!(p.after_failure(12, false, &rng), RetryDecision::GiveUp);
        assert_eq!(p.after_failure(1, true, &rng), RetryDecision::GiveUp);
    }
}
