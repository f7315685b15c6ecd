//! How a user proved who they are, and what that is worth: RFC 8176 `amr` values and the
//! `acr` level (NIST AAL).

use serde::{Deserialize, Serialize};

/// One way of proving identity used in a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    /// The first factor a client checked itself and vouched for in a signed request (its own
    /// password, say): it counts as a factor, but it is not Deadbolt's to name in `amr`.
    ClientAsserted,
    Totp,
    EmailCode,
    RecoveryCode,
    Sms,
    Voice,
    /// A WebAuthn credential; `user_verified` when the authenticator checked a PIN or biometric.
    WebAuthn {
        hardware: bool,
        user_verified: bool,
    },
    /// An approval on another signed-in device, with number matching; `bound` when the
    /// approver signed its answer with a key it registered.
    Push {
        bound: bool,
    },
}

impl AuthMethod {
    fn amr_values(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::ClientAsserted => &[],
            Self::Totp | Self::EmailCode | Self::RecoveryCode => &["otp"],
            Self::Sms => &["sms"],
            Self::Voice => &["tel"],
            Self::WebAuthn {
                hardware: true,
                user_verified: false,
            } => &["hwk"],
            Self::WebAuthn {
                hardware: true,
                user_verified: true,
            } => &["hwk", "user"],
            Self::WebAuthn {
                hardware: false,
                user_verified: false,
            } => &["swk"],
            Self::WebAuthn {
                hardware: false,
                user_verified: true,
            } => &["swk", "user"],
            // RFC 8176 `mca`: the approval travelled over a second channel
            Self::Push { bound: false } => &["mca"],
            Self::Push { bound: true } => &["mca", "swk"],
        }
    }

    /// How many authentication factors this method alone stands for.
    fn factors(self) -> usize {
        match self {
            Self::WebAuthn {
                user_verified: true,
                ..
            } => 2,
            _ => 1,
        }
    }

    /// How many factors this method stands for toward an authenticator assurance level: an
    /// approval by a session alone proves no authenticator, so it counts for `mfa` but not
    /// for `aal2`; a key-bound approval is a software authenticator.
    fn aal_factors(self) -> usize {
        match self {
            Self::Push { bound: false } => 0,
            other => other.factors(),
        }
    }
}

/// The `amr` claim: each method's values once, plus `mfa` when two or more factors were used.
pub fn amr(methods: &[AuthMethod]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in methods {
        for v in m.amr_values() {
            if !out.iter().any(|o| o == v) {
                out.push((*v).to_owned());
            }
        }
    }
    if factor_count(methods) >= 2 {
        out.push("mfa".to_owned());
    }
    out
}

/// The `acr` claim: `aal2` for two or more factors that prove an authenticator (an unbound
/// push approval does not), else `aal1`.
pub fn acr(methods: &[AuthMethod]) -> &'static str {
    if methods.iter().map(|m| m.aal_factors()).sum::<usize>() >= 2 {
        "aal2"
    } else {
        "aal1"
    }
}

fn factor_count(methods: &[AuthMethod]) -> usize {
    methods.iter().map(|m| m.factors()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_alone_is_aal1() {
        assert_eq!(amr(&[AuthMethod::Password]), ["pwd"]);
        assert_eq!(acr(&[AuthMethod::Password]), "aal1");
    }

    #[test]
    fn two_factors_are_mfa() {
        let m = [AuthMethod::Password, AuthMethod::Totp];
        assert_eq!(amr(&m), ["pwd", "otp", "mfa"]);
        assert_eq!(acr(&m), "aal2");
        assert_eq!(
            amr(&[AuthMethod::Password, AuthMethod::Sms]),
            ["pwd", "sms", "mfa"]
        );
    }

    #[test]
    fn a_clients_own_check_counts_as_a_factor_but_is_not_named() {
        assert!(amr(&[AuthMethod::ClientAsserted]).is_empty());
        assert_eq!(acr(&[AuthMethod::ClientAsserted]), "aal1");
        let m = [AuthMethod::ClientAsserted, AuthMethod::Totp];
        assert_eq!(amr(&m), ["otp", "mfa"]);
        assert_eq!(acr(&m), "aal2");
    }

    #[test]
    fn passkey_with_user_verification_is_mfa() {
        let m = [AuthMethod::WebAuthn {
            hardware: false,
            user_verified: true,
        }];
        assert_eq!(amr(&m), ["swk", "user", "mfa"]);
        assert_eq!(acr(&m), "aal2");
        let no_uv = [AuthMethod::WebAuthn {
            hardware: true,
            user_verified: false,
        }];
        assert_eq!(acr(&no_uv), "aal1");
    }

    #[test]
    fn a_push_approval_is_mfa_but_aal2_only_when_bound() {
        let unbound = [AuthMethod::Password, AuthMethod::Push { bound: false }];
        assert_eq!(amr(&unbound), ["pwd", "mca", "mfa"]);
        assert_eq!(acr(&unbound), "aal1");
        let bound = [AuthMethod::Password, AuthMethod::Push { bound: true }];
        assert_eq!(amr(&bound), ["pwd", "mca", "swk", "mfa"]);
        assert_eq!(acr(&bound), "aal2");
    }
}
