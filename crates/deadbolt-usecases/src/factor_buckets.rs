//! Which failure bucket a second factor's misses count against.

use crate::context::Context;
use deadbolt_core::account::Account;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::throttle::ThrottlePolicy;

/// The failure bucket a kind of factor counts against: recovery codes have their own.
pub fn failure_bucket(
    ctx: &Context,
    account: &Account,
    kind: MethodKind,
) -> (String, ThrottlePolicy) {
    let limits = ctx.policy.get().lockout;
    match kind {
        MethodKind::RecoveryCode => (
            format!("mfa:recovery:{}", account.id),
            limits.recovery_throttle(),
        ),
        MethodKind::Totp
        | MethodKind::Email
        | MethodKind::Sms
        | MethodKind::Voice
        | MethodKind::WebAuthn
        | MethodKind::Push => (
            format!("mfa:account:{}", account.id),
            limits.account_throttle(),
        ),
    }
}
