//! The words of every message the service sends: one-time codes and security notices, rendered
//! from the templates under `templates/messages/`. Email gets plain text and HTML, SMS a short
//! text, voice the words to be spoken. `codes.j2` and `notices.j2` hold the wording; the other
//! files lay it out per medium.

use anyhow::Context;
use deadbolt_core::code::CodePurpose;
use deadbolt_core::secret::Secret;
use minijinja::{context, AutoEscape, Environment};
use serde::Deserialize;
use std::collections::HashMap;

/// How a message travels; also the outbox channel that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Email,
    Sms,
    Voice,
}

impl Medium {
    pub fn channel(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Voice => "voice",
        }
    }
}

/// A rendered message. Code messages carry the code: never in logs.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    /// Email only.
    pub html: Option<String>,
}

/// When, from where and on what a notice's event happened.
pub struct Facts<'a> {
    pub when: &'a str,
    pub from: &'a str,
    pub device: Option<&'a str>,
}

#[derive(Deserialize)]
struct CodeWording {
    subject: String,
    intro: String,
    outro: String,
}

#[derive(Deserialize)]
struct NoticeWording {
    subject: String,
    summary: String,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/messages/base.html")),
    ("codes.j2", include_str!("../templates/messages/codes.j2")),
    ("code.txt", include_str!("../templates/messages/code.txt")),
    ("code.html", include_str!("../templates/messages/code.html")),
    ("code.sms", include_str!("../templates/messages/code.sms")),
    (
        "code.voice",
        include_str!("../templates/messages/code.voice"),
    ),
    (
        "notices.j2",
        include_str!("../templates/messages/notices.j2"),
    ),
    (
        "notice.txt",
        include_str!("../templates/messages/notice.txt"),
    ),
    (
        "notice.html",
        include_str!("../templates/messages/notice.html"),
    ),
    (
        "notice.sms",
        include_str!("../templates/messages/notice.sms"),
    ),
];

/// Every code purpose, so that all are checked at start.
const PURPOSES: [CodePurpose; 7] = [
    CodePurpose::VerifyEmail,
    CodePurpose::VerifyPhone,
    CodePurpose::ResetPassword,
    CodePurpose::EnrollMethod,
    CodePurpose::SecondFactor,
    CodePurpose::ChangeEmail,
    CodePurpose::ChangePhone,
];

pub struct Messages {
    env: Environment<'static>,
    issuer: String,
    codes: HashMap<String, CodeWording>,
    notices: HashMap<String, NoticeWording>,
}

impl Messages {
    /// Loads the templates and renders each message once on every medium, so that a broken
    /// template stops the start instead of a message.
    pub fn new(issuer: &str, notice_keys: &[&str]) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .with_context(|| format!("message template {name}"))?;
        }
        let exported = |template: &str, var: &str| -> anyhow::Result<serde_json::Value> {
            let captured = env.get_template(template)?.render_captured(context! {})?;
            let value = captured
                .state()
                .lookup(var)
                .with_context(|| format!("{template} sets no `{var}`"))?;
            Ok(serde_json::to_value(value)?)
        };
        let codes: HashMap<String, CodeWording> =
            serde_json::from_value(exported("codes.j2", "codes")?).context("codes.j2")?;
        let notices: HashMap<String, NoticeWording> =
            serde_json::from_value(exported("notices.j2", "notices")?).context("notices.j2")?;
        let messages = Self {
            env,
            issuer: issuer.to_owned(),
            codes,
            notices,
        };
        let code = Secret::new("012345");
        for purpose in PURPOSES {
            for medium in [Medium::Email, Medium::Sms, Medium::Voice] {
                messages.code(medium, purpose, &code, 10)?;
            }
        }
        let facts = Facts {
            when: "2026-01-01T00:00:00Z",
            from: "192.0.2.1",
            device: Some("Example/1.0"),
        };
        for key in notice_keys {
            for medium in [Medium::Email, Medium::Sms] {
                messages.notice(medium, key, &facts)?;
            }
        }
        Ok(messages)
    }

    /// The message carrying `code` for `purpose`. The code is its only 6-digit number.
    pub fn code(
        &self,
        medium: Medium,
        purpose: CodePurpose,
        code: &Secret,
        minutes: i64,
    ) -> anyhow::Result<Rendered> {
        let wording = self
            .codes
            .get(purpose.as_str())
            .with_context(|| format!("codes.j2 has no wording for {}", purpose.as_str()))?;
        // spoken one digit at a time, with pauses
        let spoken = code
            .expose()
            .chars()
            .map(String::from)
            .collect::<Vec<_>>()
            .join(", ");
        let ctx = context! {
            issuer => &self.issuer,
            subject => &wording.subject,
            intro => &wording.intro,
            outro => &wording.outro,
            code => code.expose(),
            spoken => spoken,
            minutes => minutes,
        };
        let render = |name: &str| -> anyhow::Result<String> {
            Ok(self.env.get_template(name)?.render(&ctx)?)
        };
        Ok(match medium {
            Medium::Email => Rendered {
                subject: wording.subject.clone(),
                text: render("code.txt")?,
                html: Some(render("code.html")?),
            },
            Medium::Sms => Rendered {
                subject: String::new(),
                text: render("code.sms")?.trim().to_owned(),
                html: None,
            },
            Medium::Voice => Rendered {
                subject: String::new(),
                text: render("code.voice")?.trim().to_owned(),
                html: None,
            },
        })
    }

    /// The notice `key` (one of `notices.j2`'s), with its facts.
    pub fn notice(&self, medium: Medium, key: &str, facts: &Facts) -> anyhow::Result<Rendered> {
        let wording = self
            .notices
            .get(key)
            .with_context(|| format!("notices.j2 has no notice {key}"))?;
        let ctx = context! {
            issuer => &self.issuer,
            subject => &wording.subject,
            summary => &wording.summary,
            when => facts.when,
            from => facts.from,
            device => facts.device,
        };
        let render = |name: &str| -> anyhow::Result<String> {
            Ok(self.env.get_template(name)?.render(&ctx)?)
        };
        Ok(match medium {
            Medium::Email => Rendered {
                subject: wording.subject.clone(),
                text: render("notice.txt")?,
                html: Some(render("notice.html")?),
            },
            Medium::Sms | Medium::Voice => Rendered {
                subject: String::new(),
                text: render("notice.sms")?.trim().to_owned(),
                html: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Messages {
        Messages::new("Deadbolt", &["new_device", "mfa_enabled"]).unwrap()
    }

    #[test]
    fn the_code_is_the_only_six_digit_number() {
        let m = messages();
        fn six_digit_runs(s: &str) -> Vec<&str> {
            s.split(|c: char| !c.is_ascii_digit())
                .filter(|run| run.len() == 6)
                .collect()
        }
        for medium in [Medium::Email, Medium::Sms] {
            let r = m
                .code(
                    medium,
                    CodePurpose::SecondFactor,
                    &Secret::new("407311"),
                    10,
                )
                .unwrap();
            assert_eq!(
                six_digit_runs(&r.text),
                ["407311"],
                "{medium:?}: {}",
                r.text
            );
            if let Some(html) = &r.html {
                assert_eq!(six_digit_runs(html), ["407311"]);
            }
        }
        let voice = m
            .code(
                Medium::Voice,
                CodePurpose::SecondFactor,
                &Secret::new("407311"),
                10,
            )
            .unwrap();
        assert!(voice.text.contains("4, 0, 7, 3, 1, 1"), "{}", voice.text);
    }

    #[test]
    fn html_escapes_what_came_from_outside() {
        let m = messages();
        let facts = Facts {
            when: "now",
            from: "192.0.2.1",
            device: Some("<script>alert(1)</script>"),
        };
        let r = m.notice(Medium::Email, "new_device", &facts).unwrap();
        let html = r.html.unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(
            r.text.contains("Device: <script>"),
            "plain text is not escaped"
        );
        assert_eq!(r.subject, "New sign-in to your account");
    }

    #[test]
    fn unknown_notices_and_missing_wording_are_errors() {
        let m = messages();
        let facts = Facts {
            when: "now",
            from: "here",
            device: None,
        };
        assert!(m.notice(Medium::Email, "no_such_notice", &facts).is_err());
        assert!(Messages::new("Deadbolt", &["no_such_notice"]).is_err());
    }
}
