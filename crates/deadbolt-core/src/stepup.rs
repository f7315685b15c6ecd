//! Step-up: a fresh proof of identity before a sensitive action. Each action has a rule: a
//! grant for it is spent by one use, or stays open for a window that is fixed or slides forward
//! at each use.

use crate::mfa::MethodKind;
use crate::CoreError;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// An action name: `[a-z0-9_.]+`, at most 64 long. Apps name their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Action(String);

impl Action {
    pub const PASSWORD_CHANGE: &'static str = "password.change";
    pub const ACCOUNT_DELETE: &'static str = "account.delete";
    pub const MFA_MANAGE: &'static str = "mfa.manage";
    pub const EMAIL_CHANGE: &'static str = "email.change";
    pub const PHONE_CHANGE: &'static str = "phone.change";
    pub const API_KEY_REVOKE: &'static str = "api_key.revoke";
    /// Creating an API key when the session is not recently authenticated: a key outlives the
    /// session that made it.
    pub const API_KEY_CREATE: &'static str = "api_key.create";
    pub const TEAM_MANAGE: &'static str = "team.manage";
    pub const ADMIN_MFA_RESET: &'static str = "admin.mfa_reset";
    pub const POLICY_CHANGE: &'static str = "policy.change";
    /// Making an account with the admin role: a stolen admin session must not be enough to
    /// leave a second administrator behind.
    pub const ADMIN_GRANT: &'static str = "admin.grant";
    /// Registering, rotating the secret of, or deleting an OpenID Connect client: a client
    /// decides where signed-in users are sent with their tokens.
    pub const CLIENT_MANAGE: &'static str = "client.manage";
    /// Signing in to an OpenID Connect client that asks for more than the session shows (a
    /// second factor, a recent check): the step-up is that sign-in's authentication.
    pub const OIDC_AUTHORIZE: &'static str = "oidc.authorize";
    /// Approving a device's sign-in (RFC 8628) when the session's last check is not recent:
    /// the device's session outlives the one that approved it.
    pub const DEVICE_APPROVE: &'static str = "device.approve";

    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CoreError::InvalidAction)
        }
    }

    /// For built-in names known to be valid.
    pub fn builtin(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Action {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, CoreError> {
        Self::parse(&s)
    }
}

impl From<Action> for String {
    fn from(a: Action) -> String {
        a.0
    }
}

/// How long a satisfied step-up lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpRule {
    /// None: the grant is spent by one use. Some: it stays open this many seconds.
    pub window_seconds: Option<i64>,
    /// With a window: each use moves the end forward by the window.
    #[serde(default)]
    pub sliding: bool,
}

/// How long a one-shot grant waits to be used.
pub const ONE_SHOT_TTL: Duration = Duration::minutes(5);

/// A sliding window ends at most this long after the check that opened it: use after use must
/// not keep a grant open for as long as the session lives.
pub const SLIDING_LIMIT: Duration = Duration::hours(1);

impl StepUpRule {
    pub const ONE_SHOT: Self = Self {
        window_seconds: None,
        sliding: false,
    };

    pub fn problems(&self) -> Vec<String> {
        match self.window_seconds {
            Some(w) if !(1..=86_400).contains(&w) => {
                vec!["window_seconds must be between 1 and 86400".to_owned()]
            }
            None if self.sliding => vec!["sliding needs window_seconds".to_owned()],
            _ => vec![],
        }
    }

    pub fn is_one_shot(&self) -> bool {
        self.window_seconds.is_none()
    }

    /// When a grant made now (at its check) ends.
    pub fn expires_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        match (self.window_seconds, self.sliding) {
            (Some(w), true) => now + Duration::seconds(w).min(SLIDING_LIMIT),
            (Some(w), false) => now + Duration::seconds(w),
            (None, _) => now + ONE_SHOT_TTL,
        }
    }

    /// After a use at `now` of a grant opened by a check at `checked_at`, when the grant ends
    /// (None: it is spent). A sliding window moves forward, never past `SLIDING_LIMIT` after
    /// the check.
    pub fn after_use(
        &self,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        checked_at: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        match (self.window_seconds, self.sliding) {
            (None, _) => None,
            (Some(w), true) => Some((now + Duration::seconds(w)).min(checked_at + SLIDING_LIMIT)),
            (Some(_), false) => Some(expires_at),
        }
    }
}

/// Whether a second factor of `kind` may satisfy a step-up for `action`. A code we send (email,
/// SMS, voice) does not satisfy the actions that change who can sign in or how (`mfa.manage`,
/// `policy.change`, `admin.mfa_reset`, `admin.grant`, `client.manage`) when the account has a stronger method
/// enrolled, as GitHub's sudo mode refuses SMS: whoever took over a phone number or a mailbox
/// must not be able to replace the authenticator app.
pub fn factor_satisfies(action: &Action, kind: MethodKind, has_stronger: bool) -> bool {
    const STRONG_ACTIONS: [&str; 5] = [
        Action::MFA_MANAGE,
        Action::POLICY_CHANGE,
        Action::ADMIN_MFA_RESET,
        Action::ADMIN_GRANT,
        Action::CLIENT_MANAGE,
    ];
    // a push approval is as weak as a sent code here: tapping a prompt on a stolen session
    // must not replace the authenticator app
    let weak = kind.is_sent_code() || kind == MethodKind::Push;
    !(weak && has_stronger && STRONG_ACTIONS.contains(&action.as_str()))
}

/// Whether an account whose confirmed methods are `kinds` has one stronger than a code we send.
/// A disabled one counts: failing an authenticator a hundred times must not make a texted code
/// good enough.
pub fn has_stronger_than_a_sent_code(kinds: impl IntoIterator<Item = MethodKind>) -> bool {
    kinds
        .into_iter()
        .any(|k| matches!(k, MethodKind::Totp | MethodKind::WebAuthn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_codes_do_not_satisfy_the_strong_actions_when_a_stronger_method_exists() {
        let manage = Action::builtin(Action::MFA_MANAGE);
        let refund = Action::parse("billing.refund").unwrap();
        assert!(!factor_satisfies(&manage, MethodKind::Sms, true));
        assert!(!factor_satisfies(&manage, MethodKind::Email, true));
        assert!(factor_satisfies(&manage, MethodKind::Sms, false));
        assert!(factor_satisfies(&manage, MethodKind::Totp, true));
        assert!(factor_satisfies(&manage, MethodKind::RecoveryCode, true));
        assert!(factor_satisfies(&refund, MethodKind::Voice, true));
        assert!(!factor_satisfies(&manage, MethodKind::Push, true));
        assert!(factor_satisfies(&refund, MethodKind::Push, true));
        let clients = Action::builtin(Action::CLIENT_MANAGE);
        assert!(Action::parse(clients.as_str()).is_ok());
        assert!(!factor_satisfies(&clients, MethodKind::Email, true));
        assert!(factor_satisfies(&clients, MethodKind::Totp, true));
        assert!(!factor_satisfies(
            &Action::parse("policy.change").unwrap(),
            MethodKind::Voice,
            true
        ));
        assert!(has_stronger_than_a_sent_code([
            MethodKind::Sms,
            MethodKind::Totp
        ]));
        assert!(has_stronger_than_a_sent_code([
            MethodKind::Email,
            MethodKind::WebAuthn
        ]));
        assert!(!has_stronger_than_a_sent_code([
            MethodKind::Sms,
            MethodKind::RecoveryCode
        ]));
    }

    #[test]
    fn action_names() {
        assert!(Action::parse("team.manage").is_ok());
        assert!(Action::parse("billing.refund_2").is_ok());
        for bad in ["", "Team", "a b", "a/b", "ä", &"a".repeat(65)] {
            assert_eq!(Action::parse(bad), Err(CoreError::InvalidAction), "{bad}");
        }
    }

    #[test]
    fn a_window_must_be_sensible() {
        assert_eq!(
            StepUpRule {
                window_seconds: Some(0),
                sliding: false
            }
            .problems()
            .len(),
            1
        );
        assert_eq!(
            StepUpRule {
                window_seconds: None,
                sliding: true
            }
            .problems()
            .len(),
            1
        );
    }

    #[test]
    fn windows() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let team = StepUpRule {
            window_seconds: Some(300),
            sliding: true,
        };
        assert_eq!(team.expires_at(now), now + Duration::seconds(300));
        let later = now + Duration::seconds(200);
        assert_eq!(
            team.after_use(now + Duration::seconds(300), later, now),
            Some(later + Duration::seconds(300))
        );
        // however often it is used, it ends an hour after the check
        let much_later = now + Duration::seconds(3500);
        assert_eq!(
            team.after_use(much_later, much_later, now),
            Some(now + SLIDING_LIMIT)
        );
        let day = StepUpRule {
            window_seconds: Some(86_400),
            sliding: true,
        };
        assert_eq!(day.expires_at(now), now + SLIDING_LIMIT);
        let fixed = StepUpRule {
            window_seconds: Some(60),
            sliding: false,
        };
        assert_eq!(
            fixed.after_use(now + Duration::seconds(60), later, now),
            Some(now + Duration::seconds(60))
        );
        let once = StepUpRule::ONE_SHOT;
        assert!(once.is_one_shot());
        assert_eq!(once.after_use(now, now, now), None);
    }
}
