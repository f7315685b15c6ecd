//! `[sms]`: how texts and voice calls are delivered, if at all.

use crate::url::{is_http_url, redact_url};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// SMS and voice delivery: `none` (nothing is sent by phone), `file` (JSON files under
/// `file_dir`, for trying things out), `webhook` (a signed JSON POST, which also serves push
/// gateways) or `twilio` (the Messages and Calls APIs).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    pub provider: String,
    pub webhook_url: String,
    /// Key of the `X-Deadbolt-Signature` HMAC; at least 32 characters.
    pub webhook_secret: String,
    pub twilio_base_url: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    /// The E.164 number messages and calls come from.
    pub twilio_from: String,
    /// Where `provider = "file"` writes texts and calls: one `.json` file each, mode 0600.
    pub file_dir: PathBuf,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: "none".to_owned(),
            webhook_url: "http://127.0.0.1:9000/sms".to_owned(),
            webhook_secret: String::new(),
            twilio_base_url: "https://api.twilio.com".to_owned(),
            twilio_account_sid: String::new(),
            twilio_auth_token: String::new(),
            twilio_from: String::new(),
            file_dir: PathBuf::from("./deadbolt-data/sms"),
        }
    }
}

// Debug output reaches logs: the webhook secret and the Twilio token are left out, and any
// password in the webhook URL is redacted.
impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("provider", &self.provider)
            .field("webhook_url", &redact_url(&self.webhook_url))
            .field("twilio_base_url", &self.twilio_base_url)
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_from", &self.twilio_from)
            .field("file_dir", &self.file_dir)
            .finish_non_exhaustive()
    }
}

impl SmsConfig {
    /// True when something can carry SMS and voice messages.
    pub fn can_send(&self) -> bool {
        self.provider != "none"
    }

    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !["webhook", "twilio", "file", "none"].contains(&self.provider.as_str()) {
            out.push(("provider", "must be webhook, twilio, file or none".into()));
        }
        if self.provider == "file" && self.file_dir.as_os_str().is_empty() {
            out.push((
                "file_dir",
                "must name a directory with provider = \"file\"".into(),
            ));
        }
        if self.provider == "webhook" {
            if !is_http_url(&self.webhook_url) {
                out.push(("webhook_url", "must be an http:// or https:// URL".into()));
            }
            if self.webhook_secret.len() < 32 {
                out.push((
                    "webhook_secret",
                    "must be at least 32 characters (the receiver checks the signature with it)"
                        .into(),
                ));
            }
        }
        if self.provider == "twilio" {
            if !is_http_url(&self.twilio_base_url) {
                out.push((
                    "twilio_base_url",
                    "must be an http:// or https:// URL".into(),
                ));
            }
            for (key, value) in [
                ("twilio_account_sid", &self.twilio_account_sid),
                ("twilio_auth_token", &self.twilio_auth_token),
            ] {
                if value.is_empty() {
                    out.push((key, "is required with provider = \"twilio\"".into()));
                }
            }
            if deadbolt_core::phone::Phone::parse(&self.twilio_from).is_err() {
                out.push((
                    "twilio_from",
                    "must be an E.164 number, like +12015550123".into(),
                ));
            }
        }
        out
    }

    /// Valid but wrong for production.
    pub(crate) fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.provider == "file" {
            out.push((
                "provider",
                format!(
                    "\"file\": texts and calls are written to files under {}, not sent",
                    self.file_dir.display()
                ),
            ));
        }
        out
    }
}
