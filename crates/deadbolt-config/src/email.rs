//! `[email]`: mail over SMTP, or written to files when no SMTP server is set.

use crate::url::redact_url;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Email: over SMTP where `smtp_url` is set; otherwise (the embedded default, which needs no
/// mail server) written as files under `file_dir`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Empty: mail is written to files.
    pub smtp_url: String,
    pub from: String,
    /// Where mail goes when `smtp_url` is empty: one `.eml` file per message, mode 0600.
    pub file_dir: PathBuf,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "Deadbolt <no-reply@localhost>".to_owned(),
            file_dir: PathBuf::from("./deadbolt-data/mail"),
        }
    }
}

// The SMTP URL may carry a password: Debug shows it redacted.
impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("file_dir", &self.file_dir)
            .finish()
    }
}

impl EmailConfig {
    /// True when mail is written to files rather than sent.
    pub fn writes_files(&self) -> bool {
        self.smtp_url.is_empty()
    }

    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.writes_files()
            && !["smtp://", "smtps://"]
                .iter()
                .any(|s| self.smtp_url.starts_with(s))
        {
            out.push((
                "smtp_url",
                "must start with smtp:// or smtps://, or be empty (mail is written to files)"
                    .into(),
            ));
        }
        if !is_mailbox(&self.from) {
            out.push((
                "from",
                "must be an address, like \"Deadbolt <no-reply@example.com>\"".into(),
            ));
        }
        if self.writes_files() && self.file_dir.as_os_str().is_empty() {
            out.push((
                "file_dir",
                "must name a directory while smtp_url is empty".into(),
            ));
        }
        out
    }

    /// Valid but wrong for production.
    pub(crate) fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.writes_files() {
            out.push((
                "smtp_url",
                format!(
                    "not set: mail is written to files under {}, not sent; set it to deliver mail",
                    self.file_dir.display()
                ),
            ));
        }
        out
    }
}

/// Just enough of an RFC 5322 mailbox check to catch typos in `from`; lettre does the real
/// parsing when the outbox sends.
fn is_mailbox(s: &str) -> bool {
    let addr = match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b && b == s.len() - 1 => &s[a + 1..b],
        (None, None) => s.trim(),
        _ => return false,
    };
    addr.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !addr.contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_must_look_like_a_mailbox() {
        for ok in ["Deadbolt <no-reply@localhost>", "a@b", " a@b "] {
            assert!(is_mailbox(ok), "{ok:?}");
        }
        for bad in ["nobody", "A <a@b", "<@b>", "a b@c", "A <a@b> x", "a@"] {
            assert!(!is_mailbox(bad), "{bad:?}");
        }
    }
}
