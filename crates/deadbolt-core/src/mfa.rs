//! Second factors: the kinds of method, and the limits on guessing them. Three independent
//! limits apply to a second-factor code: each mfa_token dies after a few wrong codes, each
//! account locks its second-factor checks after a burst of failures (counted in the database,
//! so every instance agrees), and each authenticator is disabled after a long run of
//! consecutive failures (NIST SP 800-63B rev 4, 3.2.2), with waits that grow on the way.

use crate::auth::AuthMethod;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Totp,
    RecoveryCode,
    /// A code sent to the account's verified email.
    Email,
    /// A code sent by text message.
    Sms,
    /// A code read out in a phone call.
    Voice,
    /// A WebAuthn credential: a security key or a passkey.
    WebAuthn,
    /// Push approval with number matching: a signed-in device (the approver) sees the request
    /// and must pick the number the requesting screen shows.
    Push,
}

impl MethodKind {
    pub const ALL: [Self; 7] = [
        Self::Totp,
        Self::WebAuthn,
        Self::Push,
        Self::Email,
        Self::Sms,
        Self::Voice,
        Self::RecoveryCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Voice => "voice",
            Self::WebAuthn => "webauthn",
            Self::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn auth_method(self) -> AuthMethod {
        match self {
            Self::Totp => AuthMethod::Totp,
            Self::RecoveryCode => AuthMethod::RecoveryCode,
            Self::Email => AuthMethod::EmailCode,
            Self::Sms => AuthMethod::Sms,
            Self::Voice => AuthMethod::Voice,
            // what the assertion said refines this (see `webauthn::auth_method`)
            Self::WebAuthn => AuthMethod::WebAuthn {
                hardware: true,
                user_verified: false,
            },
            // whether the approver holds a key refines this (see `push`)
            Self::Push => AuthMethod::Push { bound: false },
        }
    }

    /// Recovery codes back up the other methods; they never turn MFA on alone, nor serve as
    /// the primary method.
    pub fn is_fallback_only(self) -> bool {
        matches!(self, Self::RecoveryCode)
    }

    /// The methods whose code we send (rather than the user's app or paper holding it).
    pub fn is_sent_code(self) -> bool {
        matches!(self, Self::Email | Self::Sms | Self::Voice)
    }

    /// A password reset's code comes by email, so an email code cannot also be its second
    /// factor: one inbox must not be enough to take an account with MFA.
    pub fn serves_password_reset(self) -> bool {
        self != Self::Email
    }

    /// NIST SP 800-63B calls authentication through the phone network "restricted": numbers
    /// can be ported or redirected, messages intercepted. Usable only where policy allows it,
    /// and users are told so when they choose it.
    pub fn is_restricted(self) -> bool {
        matches!(self, Self::Sms | Self::Voice)
    }
}

/// How far policy requires a second factor: `off` (never), `optional` (only for the roles that
/// policy names), `required` (every account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    Off,
    Optional,
    Required,
}

impl Enforcement {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }

    /// Whether an account with `roles` must have a second factor.
    pub fn requires(self, required_for_roles: &[String], roles: &[crate::account::Role]) -> bool {
        match self {
            Self::Off => false,
            Self::Required => true,
            Self::Optional => roles
                .iter()
                .any(|r| required_for_roles.iter().any(|q| q == r.as_str())),
        }
    }
}

/// The limits on guessing second-factor codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaLimits {
    /// How long an mfa_token (or step-up challenge) lives.
    pub token_ttl_seconds: i64,
    /// Wrong codes one mfa_token survives.
    pub token_max_failures: u32,
    /// Failures per account within the window that lock second-factor checks.
    pub account_max_failures: u32,
    /// The window, which is also how long the lock lasts.
    pub account_window_seconds: i64,
    /// Failed recovery codes per account within the window (their own bucket).
    pub recovery_max_failures: u32,
    /// Consecutive failures that disable one authenticator until it is bound again.
    pub authenticator_max_failures: u32,
}

impl Default for MfaLimits {
    fn default() -> Self {
        Self {
            token_ttl_seconds: 300,
            token_max_failures: 5,
            account_max_failures: 10,
            account_window_seconds: 900,
            recovery_max_failures: 10,
            authenticator_max_failures: 100,
        }
    }
}

impl MfaLimits {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(30..=3600).contains(&self.token_ttl_seconds) {
            out.push((
                "token_ttl_seconds",
                "must be between 30 and 3600".to_owned(),
            ));
        }
        if !(1..=20).contains(&self.token_max_failures) {
            out.push(("token_max_failures", "must be between 1 and 20".to_owned()));
        }
        if !(1..=1000).contains(&self.account_max_failures) {
            out.push((
                "account_max_failures",
                "must be between 1 and 1000".to_owned(),
            ));
        }
        if !(60..=86_400).contains(&self.account_window_seconds) {
            out.push((
                "account_window_seconds",
                "must be between 60 and 86400".to_owned(),
            ));
        }
        if !(1..=1000).contains(&self.recovery_max_failures) {
            out.push((
                "recovery_max_failures",
                "must be between 1 and 1000".to_owned(),
            ));
        }
        // NIST allows at most 100 consecutive failures; a site may choose fewer.
        if !(1..=100).contains(&self.authenticator_max_failures) {
            out.push((
                "authenticator_max_failures",
                "must be between 1 and 100".to_owned(),
            ));
        }
        out
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::seconds(self.token_ttl_seconds)
    }

    pub fn account_throttle(&self) -> crate::throttle::ThrottlePolicy {
        crate::throttle::ThrottlePolicy {
            max_failures: self.account_max_failures,
            window: Duration::seconds(self.account_window_seconds),
        }
    }

    pub fn recovery_throttle(&self) -> crate::throttle::ThrottlePolicy {
        crate::throttle::ThrottlePolicy {
            max_failures: self.recovery_max_failures,
            window: Duration::seconds(self.account_window_seconds),
        }
    }
}

/// Whether an authenticator may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorGate {
    Open,
    /// Too many consecutive failures lately: wait this long.
    Wait(Duration),
    /// The cap was reached: the user must bind it again.
    Disabled,
}

/// Consecutive failures that pass without any wait.
const FREE_FAILURES: u32 = 10;

/// Before each try: open, a wait that doubles every ten failures past the first ten (30 s up to
/// an hour), or disabled at the cap.
pub fn authenticator_gate(
    consecutive_failures: u32,
    last_failure_at: Option<OffsetDateTime>,
    cap: u32,
    now: OffsetDateTime,
) -> AuthenticatorGate {
    if consecutive_failures >= cap {
        return AuthenticatorGate::Disabled;
    }
    if consecutive_failures < FREE_FAILURES {
        return AuthenticatorGate::Open;
    }
    let doublings = ((consecutive_failures - FREE_FAILURES) / 10).min(12);
    let wait = Duration::seconds((30_i64 << doublings).min(3600));
    match last_failure_at {
        Some(at) if now < at + wait => AuthenticatorGate::Wait(at + wait - now),
        _ => AuthenticatorGate::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforcement_by_role() {
        let admin = [crate::account::Role::parse("admin").unwrap()];
        let roles = ["admin".to_owned()];
        assert!(Enforcement::Optional.requires(&roles, &admin));
        assert!(!Enforcement::Optional.requires(&roles, &[]));
        assert!(Enforcement::Required.requires(&[], &[]));
        assert!(!Enforcement::Off.requires(&roles, &admin));
        assert_eq!(Enforcement::parse("sometimes"), None);
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    #[test]
    fn waits_grow_then_the_authenticator_is_disabled() {
        let gate = |n, since| authenticator_gate(n, Some(t0()), 100, t0() + since);
        assert_eq!(gate(9, Duration::ZERO), AuthenticatorGate::Open);
        assert_eq!(
            gate(10, Duration::ZERO),
            AuthenticatorGate::Wait(Duration::seconds(30))
        );
        assert_eq!(gate(10, Duration::seconds(30)), AuthenticatorGate::Open);
        assert_eq!(
            gate(25, Duration::seconds(10)),
            AuthenticatorGate::Wait(Duration::seconds(50))
        );
        assert_eq!(
            gate(99, Duration::ZERO),
            AuthenticatorGate::Wait(Duration::seconds(3600))
        );
        assert_eq!(gate(100, Duration::days(365)), AuthenticatorGate::Disabled);
        assert_eq!(
            authenticator_gate(5, None, 5, t0()),
            AuthenticatorGate::Disabled,
            "a lower cap applies"
        );
    }

    #[test]
    fn limits_are_checked() {
        assert!(MfaLimits::default().problems().is_empty());
        let bad = MfaLimits {
            authenticator_max_failures: 101,
            token_max_failures: 0,
            ..MfaLimits::default()
        };
        assert_eq!(bad.problems().len(), 2);
    }

    #[test]
    fn kinds_round_trip() {
        for k in MethodKind::ALL {
            assert_eq!(MethodKind::parse(k.as_str()), Some(k));
        }
        assert!(MethodKind::RecoveryCode.is_fallback_only());
    }
}
