//! `[mfa]`: who needs a second factor, which kinds may be enrolled, and TOTP parameters.

use deadbolt_core::totp::{TotpAlgorithm, TotpParams};
use serde::{Deserialize, Serialize};

/// Second factors: who must have one (`enforcement`, `required_for_roles`), which kinds may be
/// enrolled (`allowed_methods`), and the TOTP parameters of new enrolments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    pub enforcement: String,
    pub required_for_roles: Vec<String>,
    pub allowed_methods: Vec<String>,
    /// The issuer authenticator apps show next to the account.
    pub issuer: String,
    pub totp_algorithm: String,
    pub totp_digits: u32,
    pub totp_period_seconds: i64,
    /// Steps accepted either side of the current one (clock drift).
    pub totp_skew_steps: i64,
    /// How long "trust this device" lasts.
    pub trusted_device_days: i64,
    /// After the approver answers "this wasn't me", how long push requests for the account
    /// are refused (other factors still work).
    pub push_pause_seconds: i64,
    /// At most this many push requests per account within `push_window_seconds`.
    pub push_requests_per_window: i64,
    pub push_window_seconds: i64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        let totp = TotpParams::default();
        Self {
            enforcement: "optional".to_owned(),
            required_for_roles: vec!["admin".to_owned()],
            allowed_methods: ["totp", "webauthn", "email", "recovery_code"]
                .map(str::to_owned)
                .to_vec(),
            issuer: "Deadbolt".to_owned(),
            totp_algorithm: "sha1".to_owned(),
            totp_digits: totp.digits,
            totp_period_seconds: totp.period_seconds,
            totp_skew_steps: totp.skew_steps,
            trusted_device_days: 30,
            push_pause_seconds: 900,
            push_requests_per_window: 5,
            push_window_seconds: 1800,
        }
    }
}

impl MfaConfig {
    pub fn totp_params(&self) -> TotpParams {
        TotpParams {
            algorithm: TotpAlgorithm::parse(&self.totp_algorithm).unwrap_or_default(),
            digits: self.totp_digits,
            period_seconds: self.totp_period_seconds,
            skew_steps: self.totp_skew_steps,
        }
    }

    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !["off", "optional", "required"].contains(&self.enforcement.as_str()) {
            out.push(("enforcement", "must be off, optional or required".into()));
        }
        for r in &self.required_for_roles {
            if deadbolt_core::account::Role::parse(r).is_none() {
                out.push((
                    "required_for_roles",
                    format!("{r:?} is not a role name ([a-z0-9_]+)"),
                ));
            }
        }
        const METHODS: [&str; 7] = [
            "totp",
            "webauthn",
            "email",
            "sms",
            "voice",
            "push",
            "recovery_code",
        ];
        for m in &self.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                out.push((
                    "allowed_methods",
                    format!("{m:?} is not one of {}", METHODS.join(", ")),
                ));
            }
        }
        if TotpAlgorithm::parse(&self.totp_algorithm).is_none() {
            out.push(("totp_algorithm", "must be sha1, sha256 or sha512".into()));
        }
        // the core names TOTP fields without this section's `totp_` prefix
        for (k, m) in self.totp_params().problems() {
            let key = match k {
                "digits" => "totp_digits",
                "period_seconds" => "totp_period_seconds",
                _ => "totp_skew_steps",
            };
            out.push((key, m));
        }
        if self.issuer.is_empty() || self.issuer.len() > 64 {
            out.push(("issuer", "must be 1 to 64 characters".into()));
        }
        if !(0..=86_400).contains(&self.push_pause_seconds) {
            out.push(("push_pause_seconds", "must be between 0 and 86400".into()));
        }
        if !(1..=100).contains(&self.push_requests_per_window) {
            out.push((
                "push_requests_per_window",
                "must be between 1 and 100".into(),
            ));
        }
        if !(60..=86_400).contains(&self.push_window_seconds) {
            out.push(("push_window_seconds", "must be between 60 and 86400".into()));
        }
        if !(1..=365).contains(&self.trusted_device_days) {
            out.push(("trusted_device_days", "must be between 1 and 365".into()));
        }
        out
    }
}
