//! Failed-attempt throttling: N failures within a window close the door until the oldest of
//! them leaves the window. Counts live in the database so every instance agrees.
//!
//! An attempt whose verdict takes time (a password hash) is counted before it is judged, as a
//! failure reserved while fewer than N are counted, and the reservation is given back when it
//! succeeds: reading the count first and recording after would let every attempt already in
//! flight pass a check that each of them read as open.

use crate::CoreError;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
}

/// Failures recorded for one key within the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    pub count: u32,
    /// The oldest failure still inside the window.
    pub oldest: Option<OffsetDateTime>,
}

impl ThrottlePolicy {
    /// Where the current window starts.
    pub fn window_start(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.window
    }

    /// `Ok` to go on, or `Throttled` with how long to wait.
    pub fn check(&self, seen: FailureWindow, now: OffsetDateTime) -> Result<(), CoreError> {
        if seen.count < self.max_failures {
            return Ok(());
        }
        let reopens = seen.oldest.map_or(now + self.window, |t| t + self.window);
        let wait = (reopens - now).max(Duration::SECOND);
        Err(CoreError::Throttled(wait))
    }
}

/// An attempt to count before judging it: recorded at `at` only while fewer than `max` are
/// counted after `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub at: OffsetDateTime,
    pub since: OffsetDateTime,
    pub max: u32,
}

impl ThrottlePolicy {
    /// The reservation an attempt made at `now` takes.
    pub fn attempt(&self, now: OffsetDateTime) -> Attempt {
        Attempt {
            at: now,
            since: self.window_start(now),
            max: self.max_failures,
        }
    }

    /// How long a refused reservation waits, from the failures seen after the refusal. A window
    /// that looks open again was freed by a success in between: the next try may go at once.
    pub fn wait(&self, seen: FailureWindow, now: OffsetDateTime) -> Duration {
        match self.check(seen, now) {
            Err(CoreError::Throttled(wait)) => wait,
            _ => Duration::SECOND,
        }
    }
}

/// Whole seconds for a `Retry-After` header, rounded up.
pub fn retry_after_seconds(wait: Duration) -> i64 {
    let s = wait.whole_seconds();
    if wait > Duration::seconds(s) {
        s + 1
    } else {
        s.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_at_the_limit_and_reopens_with_the_window() {
        let p = ThrottlePolicy {
            max_failures: 3,
            window: Duration::minutes(15),
        };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let oldest = now - Duration::minutes(10);
        assert!(p
            .check(
                FailureWindow {
                    count: 2,
                    oldest: Some(oldest)
                },
                now
            )
            .is_ok());
        let err = p
            .check(
                FailureWindow {
                    count: 3,
                    oldest: Some(oldest),
                },
                now,
            )
            .unwrap_err();
        assert_eq!(err, CoreError::Throttled(Duration::minutes(5)));
        assert_eq!(p.window_start(now), now - Duration::minutes(15));
    }

    #[test]
    fn an_attempt_is_reserved_within_the_window_and_a_refusal_waits_for_its_oldest() {
        let p = ThrottlePolicy {
            max_failures: 2,
            window: Duration::minutes(10),
        };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        assert_eq!(
            p.attempt(now),
            Attempt {
                at: now,
                since: now - Duration::minutes(10),
                max: 2
            }
        );
        let full = FailureWindow {
            count: 2,
            oldest: Some(now - Duration::minutes(4)),
        };
        assert_eq!(p.wait(full, now), Duration::minutes(6));
        let freed = FailureWindow {
            count: 1,
            oldest: Some(now),
        };
        assert_eq!(p.wait(freed, now), Duration::SECOND);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::milliseconds(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::seconds(3)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
