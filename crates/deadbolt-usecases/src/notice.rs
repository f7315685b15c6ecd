//! The things worth telling a user about; their words live in `templates/messages/notices.j2`.

/// The things worth telling a user about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    MfaEnabled,
    MfaDisabled,
    MethodAdded,
    MethodRemoved,
    RecoveryCodeUsed,
    RecoveryCodesRenewed,
    ReplayRefused,
    Locked,
    AuthenticatorDisabled,
    PasswordChanged,
    AccountDeleted,
    NewDevice,
    EmailChanged,
    PhoneChanged,
    MfaReset,
    ApiKeyCreated,
    AccountUnlocked,
    /// Someone had the right password but policy refused the sign-in (risk or location).
    SignInRefused,
    /// A session's refresh came from a place policy does not allow: someone holds its token there.
    SessionRefused,
    /// A security key's signature counter went backwards: it may have been copied.
    AuthenticatorCloned,
    /// Someone invited the account to a team; nothing changes until the account accepts.
    TeamInvitation,
    /// A device without a keyboard (a TV, a console) was signed in by an approval on the device
    /// page: its session outlives the one that approved it.
    DeviceSignedIn,
    /// The approver answered a push request "this wasn't me": push requests are paused.
    PushDenied,
}

impl Notice {
    pub const ALL: [Self; 23] = [
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MethodAdded,
        Self::MethodRemoved,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRenewed,
        Self::ReplayRefused,
        Self::Locked,
        Self::AuthenticatorDisabled,
        Self::PasswordChanged,
        Self::AccountDeleted,
        Self::NewDevice,
        Self::EmailChanged,
        Self::PhoneChanged,
        Self::MfaReset,
        Self::ApiKeyCreated,
        Self::AccountUnlocked,
        Self::SignInRefused,
        Self::SessionRefused,
        Self::AuthenticatorCloned,
        Self::TeamInvitation,
        Self::DeviceSignedIn,
        Self::PushDenied,
    ];

    /// Its name in `notices.j2`.
    pub fn key(self) -> &'static str {
        match self {
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MethodAdded => "method_added",
            Self::MethodRemoved => "method_removed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRenewed => "recovery_codes_renewed",
            Self::ReplayRefused => "replay_refused",
            Self::Locked => "locked",
            Self::AuthenticatorDisabled => "authenticator_disabled",
            Self::PasswordChanged => "password_changed",
            Self::AccountDeleted => "account_deleted",
            Self::NewDevice => "new_device",
            Self::EmailChanged => "email_changed",
            Self::PhoneChanged => "phone_changed",
            Self::MfaReset => "mfa_reset",
            Self::ApiKeyCreated => "api_key_created",
            Self::AccountUnlocked => "account_unlocked",
            Self::SignInRefused => "sign_in_refused",
            Self::SessionRefused => "session_refused",
            Self::AuthenticatorCloned => "authenticator_cloned",
            Self::TeamInvitation => "team_invitation",
            Self::DeviceSignedIn => "device_signed_in",
            Self::PushDenied => "push_denied",
        }
    }

    pub fn keys() -> Vec<&'static str> {
        Self::ALL.iter().map(|n| n.key()).collect()
    }
}
