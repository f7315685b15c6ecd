//! Security notifications by email: the user hears of what matters on their account.

use crate::state::AppState;
use deadbolt_core::account::Account;
use deadbolt_core::ids::MessageId;
use deadbolt_store::OutboxMessage;

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
}

impl Notice {
    fn subject_and_text(self) -> (&'static str, &'static str) {
        match self {
            Self::MfaEnabled => ("Two-step sign-in is on", "Two-step sign-in was turned on for your account."),
            Self::MfaDisabled => ("Two-step sign-in is off", "Two-step sign-in was turned off for your account."),
            Self::MethodAdded => ("A sign-in method was added", "A new second-factor method was added to your account."),
            Self::MethodRemoved => ("A sign-in method was removed", "A second-factor method was removed from your account."),
            Self::RecoveryCodeUsed => ("A recovery code was used", "One of your recovery codes was just used to sign in. Each code works once."),
            Self::RecoveryCodesRenewed => ("New recovery codes", "New recovery codes were made for your account; the old ones no longer work."),
            Self::ReplayRefused => (
                "A used sign-in code was tried again",
                "Someone tried a one-time code that had already been used. It was refused. If this was not you, someone may know your password.",
            ),
            Self::Locked => (
                "Second-factor checks are locked",
                "Too many wrong second-factor codes were tried on your account, so checks are paused for a while. If this was not you, change your password.",
            ),
            Self::AuthenticatorDisabled => (
                "An authenticator was disabled",
                "One of your authenticators failed too many times in a row and was disabled. Set it up again from your account's security page.",
            ),
            Self::PasswordChanged => ("Your password was changed", "Your password was changed, and your other sessions and trusted devices were signed out."),
            Self::AccountDeleted => ("Your account was deleted", "Your account and its sign-in methods were deleted."),
        }
    }
}

/// The message telling `account` of `notice`, with when and from where.
pub fn notice(
    state: &AppState,
    account: &Account,
    notice: Notice,
    client: &crate::extract::ClientInfo,
) -> OutboxMessage {
    let (subject, text) = notice.subject_and_text();
    let now = state.clock.now();
    let when = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let from = client
        .ip
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    let body_text = format!(
        "{text}\n\nWhen: {when}\nFrom: {from}\n\nIf this was you, there is nothing to do.\n"
    );
    let body_html = format!(
        "<p>{text}</p><p>When: {when}<br>From: {from}</p><p>If this was you, there is nothing to do.</p>",
        text = html_escape(text),
        when = html_escape(&when),
        from = html_escape(&from),
    );
    OutboxMessage {
        id: MessageId::generate(state.rng.as_ref()),
        channel: "email".to_owned(),
        recipient: account.email.as_str().to_owned(),
        subject: subject.to_owned(),
        body_text,
        body_html: Some(body_html),
        attempts: 0,
        created_at: now,
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
