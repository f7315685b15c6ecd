//! Failed-attempt throttling: N failures within a window close the door until the oldest of
//! them leaves the window. Counts live in the database so every instance agrees.

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
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::milliseconds(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::seconds(3)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
