//! Configuration: defaults, then a TOML file, then `DEADBOLT_SECTION__KEY` environment
//! variables. [`Config::load`] reports every problem at once, each with its key, rather than
//! stopping at the first.
//!
//! Each section's keys, defaults and checks live in its own module; [`Config`] gathers them.

mod database;
mod email;
mod geoip;
mod limits;
mod load;
mod log;
mod metrics;
mod mfa;
mod password;
mod policy;
mod problems;
mod secrets;
mod server;
mod sms;
mod url;
mod webauthn;

pub use database::DatabaseConfig;
pub use email::EmailConfig;
pub use geoip::GeoipConfig;
pub use limits::LimitsConfig;
pub use log::LogConfig;
pub use metrics::MetricsConfig;
pub use mfa::MfaConfig;
pub use password::PasswordConfig;
pub use problems::{ConfigErrors, ConfigProblem};
pub use secrets::SecretsConfig;
pub use server::ServerConfig;
pub use sms::SmsConfig;
pub use url::redact_url;
pub use webauthn::WebauthnConfig;

use deadbolt_core::delivery::RetryPolicy;
use deadbolt_core::mfa::MfaLimits;
use deadbolt_core::session::SessionPolicy;
use problems::in_section;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub webauthn: WebauthnConfig,
    pub mfa: MfaConfig,
    pub password: PasswordConfig,
    pub session: SessionPolicy,
    pub limits: LimitsConfig,
    pub lockout: MfaLimits,
    /// Limits on sending codes (verification, password reset).
    pub codes: deadbolt_core::code::ResendPolicy,
    /// Per-action step-up rules, by action name: `"billing.refund" = { window_seconds = 600 }`;
    /// `default` is the rule of actions without their own. Seeds the stored policy.
    pub step_up: std::collections::BTreeMap<String, deadbolt_core::policy::ActionRule>,
    /// Risk rules. Seeds the stored policy.
    pub risk: deadbolt_core::risk::RiskPolicy,
    /// Where each role may sign in from: `[locations.admin] networks = ["10.0.0.0/8"]`. Seeds
    /// the stored policy.
    pub locations: std::collections::BTreeMap<String, deadbolt_core::risk::LocationRule>,
    pub geoip: GeoipConfig,
    pub delivery: RetryPolicy,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
}

impl Config {
    /// Semantic checks on values that parsed: each section's own, under its name.
    fn problems(&self) -> Vec<ConfigProblem> {
        // `[session]`, `[lockout]`, `[codes]` and `[delivery]` are deadbolt-core's own types and
        // carry their rules; `[step_up]`, `[risk]` and `[locations]` are checked in `policy`.
        [
            in_section("server", self.server.problems()),
            in_section("database", self.database.problems()),
            in_section("secrets", self.secrets.problems()),
            in_section("email", self.email.problems()),
            in_section("sms", self.sms.problems()),
            in_section("webauthn", self.webauthn.problems()),
            in_section("mfa", self.mfa.problems()),
            in_section("lockout", self.lockout.problems()),
            in_section("codes", self.codes.problems()),
            self.seeded_policy_problems(),
            in_section("geoip", self.geoip.problems()),
            in_section("password", self.password.problems()),
            in_section("session", self.session.problems()),
            in_section("limits", self.limits.problems()),
            in_section("delivery", self.delivery.problems()),
            in_section("log", self.log.problems()),
        ]
        .concat()
    }

    /// What is valid but wrong for production: messages written to files instead of sent.
    pub fn warnings(&self) -> Vec<ConfigProblem> {
        [
            in_section("email", self.email.warnings()),
            in_section("sms", self.sms.warnings()),
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, vec![]).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://./deadbolt-data/deadbolt.db");
        assert_eq!(c.session.idle_seconds, 3600);
    }
}

#[cfg(test)]
mod reference_file {
    use super::*;
    use std::path::Path;

    /// The shipped reference must load, and must set every key to its default.
    #[test]
    fn example_config_matches_the_defaults() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deadbolt.example.toml"
        ));
        let loaded = Config::load(Some(path), vec![]).unwrap();
        let as_toml = |c: &Config| toml::Value::try_from(c).unwrap();
        assert_eq!(as_toml(&loaded), as_toml(&Config::default()));
        let text = std::fs::read_to_string(path).unwrap();
        let file: toml::Table = text.parse().unwrap();
        let defaults = as_toml(&Config::default());
        for (section, keys) in defaults.as_table().unwrap() {
            for key in keys.as_table().unwrap().keys() {
                assert!(
                    file[section].get(key).is_some(),
                    "{section}.{key} missing from the reference"
                );
                let env = format!(
                    "DEADBOLT_{}__{}",
                    section.to_uppercase(),
                    key.to_uppercase()
                );
                assert!(text.contains(&env), "{env} missing from the reference");
            }
        }
    }
}
