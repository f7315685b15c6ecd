//! `[webauthn]`: the relying party for security keys and passkeys, and what it accepts.

use crate::url::is_http_url;
use deadbolt_core::webauthn::AttestationPolicy;
use serde::{Deserialize, Serialize};
use webauthn_rp::request::{AsciiDomain, DomainOrigin};

/// WebAuthn relying party: security keys and passkeys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The domain credentials are bound to (`example.com`); every origin must be it or under it.
    pub rp_id: String,
    /// The origin of the pages that run the ceremonies (`https://login.example.com`).
    pub rp_origin: String,
    /// Further origins allowed to run ceremonies (other apps under the same `rp_id`).
    pub extra_origins: Vec<String>,
    /// `none` (default): any authenticator; `required`: it must attest (self attestation is
    /// all the library checks) and, when `allowed_aaguids` is not empty, be one of those models.
    pub attestation: String,
    /// AAGUIDs (UUIDs) of the authenticator models allowed under `attestation = "required"`.
    pub allowed_aaguids: Vec<String>,
    /// How long a ceremony (options handed out, credential awaited) lives.
    pub ceremony_timeout_seconds: i64,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".to_owned(),
            rp_origin: "http://localhost:8080".to_owned(),
            extra_origins: Vec::new(),
            attestation: "none".to_owned(),
            allowed_aaguids: Vec::new(),
            ceremony_timeout_seconds: 300,
        }
    }
}

impl WebauthnConfig {
    /// Every origin allowed to run a ceremony.
    pub fn origins(&self) -> Vec<&str> {
        std::iter::once(self.rp_origin.as_str())
            .chain(self.extra_origins.iter().map(String::as_str))
            .collect()
    }

    /// The allow list, parsed (config check refuses entries that do not parse).
    pub fn aaguids(&self) -> Vec<uuid::Uuid> {
        self.allowed_aaguids
            .iter()
            .filter_map(|a| uuid::Uuid::parse_str(a).ok())
            .collect()
    }

    /// The basic shape of `rp_id` and `rp_origin`, then what the WebAuthn library and the
    /// specification ask of every key.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.rp_id.is_empty() || self.rp_id.contains('/') {
            out.push(("rp_id", "must be a bare domain, like example.com".into()));
        }
        if !is_http_url(&self.rp_origin) {
            out.push(("rp_origin", "must be an http:// or https:// origin".into()));
        }
        let domain_ok = !self.rp_id.is_empty()
            && self
                .rp_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && AsciiDomain::try_from(self.rp_id.clone()).is_ok();
        if !domain_ok {
            out.push((
                "rp_id",
                "must be an ASCII domain name, like example.com".into(),
            ));
        }
        // an origin's host must be the RP ID or under it (WebAuthn L3 5.1.3 step 8)
        let origin_problem = |o: &str| -> Option<String> {
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))?;
            let host = rest.split(':').next().unwrap_or_default();
            let parses = DomainOrigin::try_from(o).is_ok()
                && !host.is_empty()
                && !rest.contains(['/', '?', '#'])
                && !rest.contains(char::is_whitespace);
            if !parses {
                return Some(format!("{o:?} is not an origin (http[s]://host[:port])"));
            }
            (domain_ok && host != self.rp_id && !host.ends_with(&format!(".{}", self.rp_id)))
                .then(|| format!("{o:?} is not rp_id {:?} nor under it", self.rp_id))
        };
        let not_http = |o: &str| !(o.starts_with("https://") || o.starts_with("http://"));
        // an rp_origin that is not http(s) at all was reported above
        if let Some(why) = origin_problem(&self.rp_origin) {
            out.push(("rp_origin", why));
        }
        for o in &self.extra_origins {
            if not_http(o) {
                out.push(("extra_origins", format!("{o:?} is not an http(s) origin")));
            } else if let Some(why) = origin_problem(o) {
                out.push(("extra_origins", why));
            }
        }
        if AttestationPolicy::parse(&self.attestation).is_none() {
            out.push(("attestation", "must be none or required".into()));
        }
        for a in &self.allowed_aaguids {
            if uuid::Uuid::parse_str(a).is_err() {
                out.push((
                    "allowed_aaguids",
                    format!("{a:?} is not an AAGUID (a UUID)"),
                ));
            }
        }
        if !(10..=3600).contains(&self.ceremony_timeout_seconds) {
            out.push((
                "ceremony_timeout_seconds",
                "must be between 10 and 3600".into(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn config_check_names_each_bad_webauthn_key() {
        assert!(WebauthnConfig::default().problems().is_empty());
        let bad = WebauthnConfig {
            rp_id: "exa mple.com".into(),
            rp_origin: "https://example.com".into(),
            extra_origins: vec!["not an origin".into(), "https://a.b/".into()],
            attestation: "sometimes".into(),
            allowed_aaguids: vec!["nope".into()],
            ceremony_timeout_seconds: 5,
        };
        let keys: Vec<&str> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "rp_id",
                "extra_origins",
                "extra_origins",
                "attestation",
                "allowed_aaguids",
                "ceremony_timeout_seconds"
            ]
        );
    }

    #[test]
    fn origins_must_sit_under_the_rp_id() {
        let c = WebauthnConfig {
            rp_id: "example.com".into(),
            rp_origin: "https://login.example.com".into(),
            extra_origins: vec![
                "https://example.com:8443".into(),
                "https://evil-example.com".into(),
            ],
            ..WebauthnConfig::default()
        };
        let problems = c.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("evil-example.com"));
    }

    #[test]
    fn webauthn_keys_come_from_the_environment_and_are_checked() {
        let env = vec![
            (
                "DEADBOLT_WEBAUTHN__ALLOWED_AAGUIDS".to_owned(),
                r#"["ee882879-721c-4913-9775-3dfcce97072a"]"#.to_owned(),
            ),
            (
                "DEADBOLT_WEBAUTHN__ATTESTATION".to_owned(),
                "required".to_owned(),
            ),
        ];
        let config = Config::load(None, env).unwrap();
        assert_eq!(config.webauthn.attestation, "required");
        assert_eq!(config.webauthn.aaguids().len(), 1);
        let env = vec![(
            "DEADBOLT_WEBAUTHN__ATTESTATION".to_owned(),
            "direct".to_owned(),
        )];
        let problems = Config::load(None, env).unwrap_err();
        assert!(problems.0.iter().any(|p| p.key == "webauthn.attestation"));
    }
}
