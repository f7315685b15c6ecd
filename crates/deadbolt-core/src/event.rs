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
    MfaMethodAdded,
    MfaMethodConfirmed,
    MfaMethodRemoved,
    MfaEnabled,
    MfaDisabled,
    MfaChallengeSucceeded,
    MfaChallengeFailed,
    MfaReplayRefused,
    MfaLocked,
    AuthenticatorDisabled,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    PrimaryMethodChanged,
    StepUpSucceeded,
    StepUpFailed,
    PasswordChanged,
    AccountDeleted,
    DeviceTrusted,
    DeviceRevoked,
    PasswordResetRequested,
    PasswordReset,
    /// A sign-in from a device the account had not used before.
    NewDeviceSignIn,
    EmailChangeRequested,
    EmailChanged,
    PhoneChangeRequested,
    PhoneChanged,
    ApiKeyCreated,
    ApiKeyRevoked,
    TeamCreated,
    TeamMemberAdded,
    TeamMemberChanged,
    TeamMemberRemoved,
    MfaResetByAdmin,
    AccountUnlocked,
    /// An administrator replaced the policy (the detail holds before and after).
    PolicyChanged,
    /// A sign-in showed risk signals; the detail holds them and the decision.
    SignInRisk,
    /// A sign-in with the right password refused by risk rules or location restrictions, or a
    /// session's refresh refused by location restrictions.
    SignInRefused,
    /// A WebAuthn assertion whose signature counter did not move forward: the authenticator
    /// may have been cloned. Refused.
    WebauthnSignCountRegressed,
    /// A usernameless sign-in with a passkey.
    PasskeyLoginSucceeded,
    /// A team's owner or admin invited an email address (recorded on the inviter).
    TeamMemberInvited,
    /// An invitation was accepted: the invitee joined the team (recorded on the invitee).
    TeamInvitationAccepted,
    /// The invitee declined an invitation.
    TeamInvitationDeclined,
    /// A team's owner or admin withdrew an invitation.
    TeamInvitationWithdrawn,
    /// An administrator or operator registered an OpenID Connect client.
    ClientCreated,
    /// A confidential client's secret was replaced (the old one stops working).
    ClientSecretRotated,
    /// A client was deleted: its id never authenticates again.
    ClientDeleted,
    /// A signed-in person was sent back to an OpenID Connect client with an authorization code.
    ClientAuthorized,
    /// A person allowed a third-party client the scopes it asked for.
    ConsentGranted,
    /// A person took back what they allowed a client; its tokens stopped working.
    ConsentRevoked,
    /// An authorization code or a client's refresh token came back after it was used: what it
    /// gave was revoked.
    OidcTokenReused,
    /// An administrator or the operator replaced the keys a client signs its requests with.
    ClientKeysReplaced,
    /// A client named one of its people for the first time (a signed request or the server API).
    SubjectCreated,
    /// A client changed what it states of one of its people (email, phone, their proof).
    SubjectUpdated,
    /// A client removed one of its people, with their second factors.
    SubjectDeleted,
    /// A person approved a device's sign-in request (RFC 8628) on the device page.
    DeviceAuthorizationApproved,
    /// A person refused a device's sign-in request.
    DeviceAuthorizationDenied,
    /// A device's sign-in request ran out of time with nobody's answer.
    DeviceAuthorizationExpired,
    /// A push approval was asked of the account's approver (no number in the detail).
    PushRequested,
    /// The approver approved a push request with the right number.
    PushApproved,
    /// A push request was denied: `reason` is `wrong_number` or `user_denied`.
    PushDenied,
}

impl EventKind {
    pub const ALL: [EventKind; 72] = [
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
        Self::MfaMethodAdded,
        Self::MfaMethodConfirmed,
        Self::MfaMethodRemoved,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaChallengeSucceeded,
        Self::MfaChallengeFailed,
        Self::MfaReplayRefused,
        Self::MfaLocked,
        Self::AuthenticatorDisabled,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRegenerated,
        Self::PrimaryMethodChanged,
        Self::StepUpSucceeded,
        Self::StepUpFailed,
        Self::PasswordChanged,
        Self::AccountDeleted,
        Self::DeviceTrusted,
        Self::DeviceRevoked,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::NewDeviceSignIn,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::PhoneChangeRequested,
        Self::PhoneChanged,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::TeamCreated,
        Self::TeamMemberAdded,
        Self::TeamMemberChanged,
        Self::TeamMemberRemoved,
        Self::MfaResetByAdmin,
        Self::AccountUnlocked,
        Self::PolicyChanged,
        Self::SignInRisk,
        Self::SignInRefused,
        Self::WebauthnSignCountRegressed,
        Self::PasskeyLoginSucceeded,
        Self::TeamMemberInvited,
        Self::TeamInvitationAccepted,
        Self::TeamInvitationDeclined,
        Self::TeamInvitationWithdrawn,
        Self::ClientCreated,
        Self::ClientSecretRotated,
        Self::ClientDeleted,
        Self::ClientAuthorized,
        Self::ConsentGranted,
        Self::ConsentRevoked,
        Self::OidcTokenReused,
        Self::ClientKeysReplaced,
        Self::SubjectCreated,
        Self::SubjectUpdated,
        Self::SubjectDeleted,
        Self::DeviceAuthorizationApproved,
        Self::DeviceAuthorizationDenied,
        Self::DeviceAuthorizationExpired,
        Self::PushRequested,
        Self::PushApproved,
        Self::PushDenied,
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
            Self::MfaMethodAdded => "mfa_method_added",
            Self::MfaMethodConfirmed => "mfa_method_confirmed",
            Self::MfaMethodRemoved => "mfa_method_removed",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaChallengeSucceeded => "mfa_challenge_succeeded",
            Self::MfaChallengeFailed => "mfa_challenge_failed",
            Self::MfaReplayRefused => "mfa_replay_refused",
            Self::MfaLocked => "mfa_locked",
            Self::AuthenticatorDisabled => "authenticator_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::PrimaryMethodChanged => "primary_method_changed",
            Self::StepUpSucceeded => "step_up_succeeded",
            Self::StepUpFailed => "step_up_failed",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeleted => "account_deleted",
            Self::DeviceTrusted => "device_trusted",
            Self::DeviceRevoked => "device_revoked",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::NewDeviceSignIn => "new_device_sign_in",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::PhoneChangeRequested => "phone_change_requested",
            Self::PhoneChanged => "phone_changed",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::TeamCreated => "team_created",
            Self::TeamMemberAdded => "team_member_added",
            Self::TeamMemberChanged => "team_member_changed",
            Self::TeamMemberRemoved => "team_member_removed",
            Self::MfaResetByAdmin => "mfa_reset_by_admin",
            Self::AccountUnlocked => "account_unlocked",
            Self::PolicyChanged => "policy_changed",
            Self::SignInRisk => "sign_in_risk",
            Self::SignInRefused => "sign_in_refused",
            Self::WebauthnSignCountRegressed => "webauthn_sign_count_regressed",
            Self::PasskeyLoginSucceeded => "passkey_login_succeeded",
            Self::TeamMemberInvited => "team_member_invited",
            Self::TeamInvitationAccepted => "team_invitation_accepted",
            Self::TeamInvitationDeclined => "team_invitation_declined",
            Self::TeamInvitationWithdrawn => "team_invitation_withdrawn",
            Self::ClientCreated => "client_created",
            Self::ClientSecretRotated => "client_secret_rotated",
            Self::ClientDeleted => "client_deleted",
            Self::ClientAuthorized => "client_authorized",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentRevoked => "consent_revoked",
            Self::OidcTokenReused => "oidc_token_reused",
            Self::ClientKeysReplaced => "client_keys_replaced",
            Self::SubjectCreated => "subject_created",
            Self::SubjectUpdated => "subject_updated",
            Self::SubjectDeleted => "subject_deleted",
            Self::DeviceAuthorizationApproved => "device_authorization_approved",
            Self::DeviceAuthorizationDenied => "device_authorization_denied",
            Self::DeviceAuthorizationExpired => "device_authorization_expired",
            Self::PushRequested => "push_requested",
            Self::PushApproved => "push_approved",
            Self::PushDenied => "push_denied",
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
