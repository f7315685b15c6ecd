//! What policy accepts as a second factor: a kind at all, a factor strong enough for a guarded
//! action, and a factor a password reset can take. Enrolment, the challenge ceremony and the
//! checks all ask here.

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::stepup::has_stronger_than_a_sent_code;
use deadbolt_core::stepup::Action;
use deadbolt_store::MethodRecord;

/// Policy allows this kind of method (recovery codes always come with MFA), and, for SMS and
/// voice, something is configured to carry them.
pub fn ensure_allowed(ctx: &Context, kind: MethodKind) -> DomainResult<()> {
    if kind == MethodKind::RecoveryCode {
        return Ok(());
    }
    if !ctx.policy.get().allows_method(kind.as_str()) {
        return Err(DomainError::FactorNotAllowed(if kind.is_restricted() {
            format!(
                "{} codes are a restricted authenticator (NIST SP 800-63B: phone numbers can be \
                 taken over and messages intercepted) and this service does not allow them; use \
                 an authenticator app or a security key",
                kind.as_str()
            )
        } else {
            format!("this service does not allow {} methods", kind.as_str())
        }));
    }
    if kind.is_restricted() && !ctx.config.sms.can_send() {
        return Err(DomainError::FactorNotAllowed(
            "this service has no SMS or voice provider configured".into(),
        ));
    }
    Ok(())
}

pub fn has_stronger(methods: &[MethodRecord]) -> bool {
    has_stronger_than_a_sent_code(
        methods
            .iter()
            .filter(|m| m.confirmed_at.is_some())
            .map(|m| m.kind),
    )
}

/// Refuses a factor too weak for the action (see `factor_satisfies`).
pub fn ensure_strong_enough(
    ctx: &Context,
    action: &Action,
    kind: MethodKind,
    methods: &[MethodRecord],
) -> DomainResult<()> {
    let policy = ctx.policy.get();
    if policy.factor_satisfies(action, kind, has_stronger(methods)) {
        Ok(())
    } else if policy.step_up.rule_for(action).methods.is_some() {
        Err(DomainError::FactorNotAllowed(format!(
            "policy does not accept a {} method for {}",
            kind.as_str(),
            action.as_str()
        )))
    } else {
        Err(DomainError::FactorNotAllowed(format!(
            "{} needs a stronger second factor than a {} code: use your authenticator app",
            action.as_str(),
            kind.as_str()
        )))
    }
}

/// Refuses a second factor a reset cannot take.
pub fn ensure_reset_factor(kind: MethodKind) -> DomainResult<()> {
    if kind.serves_password_reset() {
        Ok(())
    } else {
        Err(DomainError::InvalidRequest(
            "the email that carried the reset code cannot also be the second factor".into(),
        ))
    }
}
