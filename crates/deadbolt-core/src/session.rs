//! Session lifetimes. Defaults follow NIST SP 800-63B rev 4 for AAL2: re-authenticate at least
//! every 24 hours, and after 1 hour without activity.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// Lifetime of an access JWT.
    pub access_ttl_seconds: i64,
    /// A session ends this long after sign-in, whatever happens.
    pub absolute_seconds: i64,
    /// A session ends after this long without a token refresh.
    pub idle_seconds: i64,
    /// How long after its last password or factor check a session may plant what outlives it
    /// (a first second factor, an API key) without a step-up.
    pub recent_auth_seconds: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_ttl_seconds: 15 * 60,
            absolute_seconds: 24 * 3600,
            idle_seconds: 3600,
            recent_auth_seconds: 300,
        }
    }
}

impl SessionPolicy {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(30..=3600).contains(&self.access_ttl_seconds) {
            out.push((
                "access_ttl_seconds",
                "must be between 30 and 3600".to_owned(),
            ));
        }
        if self.absolute_seconds < 60 {
            out.push(("absolute_seconds", "must be at least 60".to_owned()));
        }
        if self.idle_seconds < 60 || self.idle_seconds > self.absolute_seconds {
            out.push((
                "idle_seconds",
                "must be at least 60 and at most absolute_seconds".to_owned(),
            ));
        }
        if !(0..=3600).contains(&self.recent_auth_seconds) {
            out.push((
                "recent_auth_seconds",
                "must be between 0 and 3600".to_owned(),
            ));
        }
        out
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::seconds(self.access_ttl_seconds)
    }

    /// When a session with these times stops being usable.
    pub fn expires_at(
        &self,
        created_at: OffsetDateTime,
        last_active_at: OffsetDateTime,
    ) -> OffsetDateTime {
        let absolute = created_at + Duration::seconds(self.absolute_seconds);
        let idle = last_active_at + Duration::seconds(self.idle_seconds);
        absolute.min(idle)
    }

    /// Whether a session whose last password or factor check was at `last_check` counts as
    /// recently authenticated at `now`: a stolen session must not plant a first second factor
    /// or an API key, which would outlive it, without proving the user is still there.
    pub fn is_recent(&self, last_check: OffsetDateTime, now: OffsetDateTime) -> bool {
        now - last_check < Duration::seconds(self.recent_auth_seconds)
    }

    pub fn is_live(&self, s: &SessionTimes, now: OffsetDateTime) -> bool {
        s.revoked_at.is_none() && now < self.expires_at(s.created_at, s.last_active_at)
    }
}

/// The times that decide whether a session is still live.
#[derive(Debug, Clone, Copy)]
pub struct SessionTimes {
    pub created_at: OffsetDateTime,
    pub last_active_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// What presenting a refresh token means, given what the store knows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Unused token of a live session: rotate it.
    Rotate,
    /// A token that was already exchanged: someone kept a copy. End the session.
    ReuseDetected,
    /// Unknown token, or a session that ended: refuse.
    Refuse,
}

pub fn decide_refresh(
    policy: &SessionPolicy,
    token_used: Option<bool>,
    session: Option<&SessionTimes>,
    now: OffsetDateTime,
) -> RefreshDecision {
    match (token_used, session) {
        (Some(true), Some(s)) if s.revoked_at.is_none() => RefreshDecision::ReuseDetected,
        (Some(false), Some(s)) if policy.is_live(s, now) => RefreshDecision::Rotate,
        _ => RefreshDecision::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    #[test]
    fn idle_and_absolute_limits() {
        let p = SessionPolicy::default();
        let s = SessionTimes {
            created_at: t0(),
            last_active_at: t0(),
            revoked_at: None,
        };
        assert!(p.is_live(&s, t0() + Duration::minutes(59)));
        assert!(!p.is_live(&s, t0() + Duration::minutes(60)));
        let active = SessionTimes {
            last_active_at: t0() + Duration::hours(23) + Duration::minutes(30),
            ..s
        };
        assert!(p.is_live(&active, t0() + Duration::hours(23) + Duration::minutes(59)));
        assert!(
            !p.is_live(&active, t0() + Duration::hours(24)),
            "absolute cap wins over activity"
        );
        let revoked = SessionTimes {
            revoked_at: Some(t0()),
            ..s
        };
        assert!(!p.is_live(&revoked, t0()));
    }

    #[test]
    fn refresh_decisions() {
        let p = SessionPolicy::default();
        let s = SessionTimes {
            created_at: t0(),
            last_active_at: t0(),
            revoked_at: None,
        };
        let now = t0() + Duration::minutes(5);
        assert_eq!(
            decide_refresh(&p, Some(false), Some(&s), now),
            RefreshDecision::Rotate
        );
        assert_eq!(
            decide_refresh(&p, Some(true), Some(&s), now),
            RefreshDecision::ReuseDetected
        );
        assert_eq!(decide_refresh(&p, None, None, now), RefreshDecision::Refuse);
        let late = t0() + Duration::hours(2);
        assert_eq!(
            decide_refresh(&p, Some(false), Some(&s), late),
            RefreshDecision::Refuse
        );
        let revoked = SessionTimes {
            revoked_at: Some(t0()),
            ..s
        };
        assert_eq!(
            decide_refresh(&p, Some(true), Some(&revoked), now),
            RefreshDecision::Refuse
        );
    }

    #[test]
    fn policy_problems() {
        let bad = SessionPolicy {
            access_ttl_seconds: 5,
            absolute_seconds: 10,
            idle_seconds: 20,
            recent_auth_seconds: -1,
        };
        assert_eq!(bad.problems().len(), 4);
        assert!(SessionPolicy::default().problems().is_empty());
    }

    #[test]
    fn recent_means_within_the_window_since_the_last_check() {
        let p = SessionPolicy::default();
        let checked = t0();
        assert!(p.is_recent(checked, checked + Duration::seconds(299)));
        assert!(!p.is_recent(checked, checked + Duration::seconds(300)));
        // 0: every such request needs a step-up, even at the very instant of the sign-in
        let never = SessionPolicy {
            recent_auth_seconds: 0,
            ..p
        };
        assert!(!never.is_recent(checked, checked));
    }
}
