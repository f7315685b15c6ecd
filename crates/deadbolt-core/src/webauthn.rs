//! WebAuthn rules that do not depend on the protocol library: what a verified assertion is
//! worth (`amr`), the attestation policy, and the signature-counter rule.

use crate::auth::AuthMethod;

/// What `[webauthn] attestation` asks of a new credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationPolicy {
    /// Any credential; the authenticator's model is not checked (the default: attestation
    /// `none` keeps users' devices private and works with every passkey provider).
    None,
    /// The authenticator must attest, and its AAGUID must be on the allow list (when the list
    /// is not empty).
    Required,
}

impl AttestationPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// Why a new credential is refused under the attestation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationRefusal {
    /// Policy requires an attestation statement and the authenticator sent none.
    Missing,
    /// The authenticator's AAGUID is not on the allow list.
    AaguidNotAllowed,
}

/// Decides whether a credential registered with (`attested`, `aaguid`) may be kept.
pub fn check_attestation(
    policy: AttestationPolicy,
    allowed_aaguids: &[uuid::Uuid],
    attested: bool,
    aaguid: uuid::Uuid,
) -> Result<(), AttestationRefusal> {
    match policy {
        AttestationPolicy::None => Ok(()),
        AttestationPolicy::Required if !attested => Err(AttestationRefusal::Missing),
        AttestationPolicy::Required
            if !allowed_aaguids.is_empty() && !allowed_aaguids.contains(&aaguid) =>
        {
            Err(AttestationRefusal::AaguidNotAllowed)
        }
        AttestationPolicy::Required => Ok(()),
    }
}

/// A signature counter that did not move forward: once the stored counter is non-zero, each
/// assertion must carry a larger one, else two copies of the key exist (WebAuthn L3 §6.1.1).
pub fn sign_count_regressed(stored: u32, received: u32) -> bool {
    stored != 0 && received <= stored
}

/// What a verified assertion is worth: `swk` for a credential that may be synced or backed up
/// (a passkey in a password manager), `hwk` for one bound to its device; `user` when the
/// authenticator verified the user (PIN or biometric), which makes it two factors alone.
pub fn auth_method(backup_eligible: bool, user_verified: bool) -> AuthMethod {
    AuthMethod::WebAuthn {
        hardware: !backup_eligible,
        user_verified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{acr, amr};

    #[test]
    fn attestation_policy() {
        let listed = uuid::Uuid::from_u128(1);
        let other = uuid::Uuid::from_u128(2);
        assert_eq!(
            check_attestation(AttestationPolicy::None, &[listed], false, other),
            Ok(())
        );
        assert_eq!(
            check_attestation(AttestationPolicy::Required, &[], false, listed),
            Err(AttestationRefusal::Missing)
        );
        assert_eq!(
            check_attestation(AttestationPolicy::Required, &[listed], true, other),
            Err(AttestationRefusal::AaguidNotAllowed)
        );
        assert_eq!(
            check_attestation(AttestationPolicy::Required, &[listed], true, listed),
            Ok(())
        );
        assert_eq!(
            check_attestation(AttestationPolicy::Required, &[], true, other),
            Ok(())
        );
        assert_eq!(AttestationPolicy::parse("direct"), None);
    }

    #[test]
    fn counters_must_move_forward_once_used() {
        assert!(!sign_count_regressed(0, 0));
        assert!(!sign_count_regressed(0, 7));
        assert!(!sign_count_regressed(5, 6));
        assert!(sign_count_regressed(5, 5));
        assert!(sign_count_regressed(5, 0));
        assert!(sign_count_regressed(5, 4));
    }

    #[test]
    fn a_passkey_with_user_verification_is_two_factors() {
        let m = [auth_method(true, true)];
        assert_eq!(amr(&m), ["swk", "user", "mfa"]);
        assert_eq!(acr(&m), "aal2");
        let key = [crate::auth::AuthMethod::Password, auth_method(false, false)];
        assert_eq!(amr(&key), ["pwd", "hwk", "mfa"]);
        assert_eq!(acr(&[auth_method(false, false)]), "aal1");
    }
}
