//! Security notifications: the user hears of what matters on their account, by email (and by
//! SMS to a phone number that was just replaced). The words live in `templates/messages/`.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::messages::{Facts, Medium};
use deadbolt_core::account::Account;
use deadbolt_core::ids::MessageId;
use deadbolt_store::{OutboxMessage, SealedMessage};

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
}

impl Notice {
    pub const ALL: [Self; 21] = [
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
        }
    }

    pub fn keys() -> Vec<&'static str> {
        Self::ALL.iter().map(|n| n.key()).collect()
    }
}

/// The email telling `account` of `notice`, with when and from where.
pub fn notice(
    state: &Context,
    account: &Account,
    notice: Notice,
    client: &ClientInfo,
) -> DomainResult<SealedMessage> {
    notice_to(state, Medium::Email, account.email.as_str(), notice, client)
}

/// `notice` sent to `recipient` (an address or a number, as `medium` needs).
pub fn notice_to(
    state: &Context,
    medium: Medium,
    recipient: &str,
    notice: Notice,
    client: &ClientInfo,
) -> DomainResult<SealedMessage> {
    let now = state.clock.now();
    let when = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default();
    let from = client
        .ip
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    // described in words of our own: the header is the client's, and may be an attacker's
    let device = client
        .user_agent
        .as_deref()
        .filter(|_| notice == Notice::NewDevice)
        .map(deadbolt_core::user_agent::describe);
    let facts = Facts {
        when: &when,
        from: &from,
        device: device.as_deref(),
    };
    let rendered = state
        .messages
        .notice(medium, notice.key(), &facts)
        .map_err(DomainError::Internal)?;
    Ok(OutboxMessage {
        id: MessageId::generate(state.rng.as_ref()),
        channel: medium.channel().to_owned(),
        recipient: recipient.to_owned(),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        attempts: 0,
        created_at: now,
    }
    .seal(state.outbox_keys.as_ref())?)
}
