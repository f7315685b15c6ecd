//! Security events: what happened to an account, recorded with time and place.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    AccountCreated,
    VerificationCodeSent,
    EmailVerified,
    PhoneVerified,
    VerificationFailed,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    TokenRefreshed,
    RefreshTokenReused,
    SessionRevoked,
    LoggedOut,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        Self::AccountCreated,
        Self::VerificationCodeSent,
        Self::EmailVerified,
        Self::PhoneVerified,
        Self::VerificationFailed,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginThrottled,
        Self::TokenRefreshed,
        Self::RefreshTokenReused,
        Self::SessionRevoked,
        Self::LoggedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account_created",
            Self::VerificationCodeSent => "verification_code_sent",
            Self::EmailVerified => "email_verified",
            Self::PhoneVerified => "phone_verified",
            Self::VerificationFailed => "verification_failed",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginThrottled => "login_throttled",
            Self::TokenRefreshed => "token_refreshed",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::SessionRevoked => "session_revoked",
            Self::LoggedOut => "logged_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
