//! `[limits]`: how many failed logins, wrong codes, sign-ups and passkey starts are allowed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failed passwords for one email within the window before login is refused (429).
    pub login_failures_per_account: u32,
    /// Failed passwords from one client address within the window.
    pub login_failures_per_ip: u32,
    pub login_window_seconds: i64,
    /// Wrong emailed or texted codes per account within the login window, outside the
    /// second-factor step (password reset, sign-up verification, email and phone change).
    pub code_failures_per_account: u32,
    /// Sign-ups from one client address within an hour.
    pub signups_per_ip_per_hour: u32,
    /// Passkey sign-ins started from one client address within a minute (each stores a
    /// ceremony).
    pub passkey_starts_per_ip_per_minute: u32,
    /// Passkey sign-ins started at once on this instance, from all addresses together; more
    /// are refused at once with 503 and Retry-After rather than queued.
    pub passkey_starts_in_flight: usize,
    /// Sign-in requests a device may start (RFC 8628) from one client address within a minute
    /// (each stores a request).
    pub device_authorizations_per_ip_per_minute: u32,
    /// Wrong user codes typed on the device page within the login window, per account.
    pub device_code_failures_per_account: u32,
    /// Wrong user codes typed on the device page within the login window, per client address.
    pub device_code_failures_per_ip: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            login_failures_per_account: 10,
            login_failures_per_ip: 100,
            login_window_seconds: 900,
            code_failures_per_account: 10,
            signups_per_ip_per_hour: 20,
            passkey_starts_per_ip_per_minute: 30,
            passkey_starts_in_flight: 64,
            device_authorizations_per_ip_per_minute: 30,
            device_code_failures_per_account: 5,
            device_code_failures_per_ip: 20,
        }
    }
}

impl LimitsConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            (
                "login_failures_per_account",
                self.login_failures_per_account,
            ),
            ("login_failures_per_ip", self.login_failures_per_ip),
            ("code_failures_per_account", self.code_failures_per_account),
            ("signups_per_ip_per_hour", self.signups_per_ip_per_hour),
            (
                "passkey_starts_per_ip_per_minute",
                self.passkey_starts_per_ip_per_minute,
            ),
            (
                "device_authorizations_per_ip_per_minute",
                self.device_authorizations_per_ip_per_minute,
            ),
            (
                "device_code_failures_per_account",
                self.device_code_failures_per_account,
            ),
            (
                "device_code_failures_per_ip",
                self.device_code_failures_per_ip,
            ),
        ] {
            if value == 0 {
                out.push((key, "must be at least 1".into()));
            }
        }
        if self.passkey_starts_in_flight == 0 {
            out.push(("passkey_starts_in_flight", "must be at least 1".into()));
        }
        if !(60..=86_400).contains(&self.login_window_seconds) {
            out.push((
                "login_window_seconds",
                "must be between 60 and 86400".into(),
            ));
        }
        out
    }
}
