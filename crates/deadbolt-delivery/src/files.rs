//! Messages written to files instead of handed to a provider: mail in the embedded default
//! (no mail server to run), texts and calls with `[sms] provider = "file"`.

use crate::{Channel, DeliveryError};
use async_trait::async_trait;
use deadbolt_store::OutboxMessage;
use std::path::PathBuf;

/// `<UTC time the message was queued>-<outbox id>.<extension>`: names sort by time, and a
/// message always gets the same name.
pub(crate) fn file_name(m: &OutboxMessage, extension: &str) -> String {
    let t = m.created_at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}.{extension}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        m.id
    )
}

/// Writes a file off the async threads; a failure (a full disk, say) is retried later.
pub(crate) async fn write(path: PathBuf, bytes: Vec<u8>) -> Result<(), DeliveryError> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || deadbolt_store::files::write_private_file(&path, &bytes))
        .await
        .map_err(|e| DeliveryError {
            message: format!("writing {shown}: {e}"),
            permanent: false,
            unreachable: false,
        })?
        .map_err(|e| DeliveryError {
            message: format!("writing {shown}: {e}"),
            permanent: false,
            unreachable: false,
        })
}

/// Texts, calls and push requests written as JSON, `{"to", "body", "channel"}`, the webhook's body.
pub struct PhoneFileChannel {
    dir: PathBuf,
}

impl PhoneFileChannel {
    /// Creates `dir` (mode 0700) if needed.
    pub fn new(dir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let dir = dir.into();
        deadbolt_store::files::private_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        Ok(Self { dir })
    }
}

#[async_trait]
impl Channel for PhoneFileChannel {
    async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        if !["sms", "voice", "push"].contains(&m.channel.as_str()) {
            return Err(DeliveryError {
                message: format!("file: cannot carry channel {:?}", m.channel),
                permanent: true,
                unreachable: false,
            });
        }
        let json = serde_json::json!({
            "to": m.recipient,
            "body": m.body_text,
            "channel": m.channel,
        });
        let path = self.dir.join(file_name(m, "json"));
        write(path, json.to_string().into_bytes()).await
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a panic in a test is a failed test")]
    use super::*;
    use crate::MailFileChannel;
    use std::os::unix::fs::PermissionsExt;

    fn message(channel: &str, recipient: &str) -> OutboxMessage {
        OutboxMessage {
            id: deadbolt_core::ids::MessageId(uuid::Uuid::new_v4()),
            channel: channel.to_owned(),
            recipient: recipient.to_owned(),
            subject: "Your code".to_owned(),
            body_text: "Your Deadbolt code is 123456".to_owned(),
            body_html: None,
            attempts: 0,
            created_at: time::macros::datetime!(2026-12-07 01:02:03 UTC),
        }
    }

    fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn mail_is_one_private_rfc5322_file_per_message_even_when_written_twice() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mail");
        let channel = MailFileChannel::new(&dir, "Deadbolt <no-reply@example.com>").unwrap();
        let m = message("email", "alice@example.com");
        channel.send(&m).await.unwrap();
        channel.send(&m).await.unwrap();
        let files = files_in(&dir);
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name, format!("20261207T010203Z-{}.eml", m.id));
        let meta = std::fs::metadata(&files[0]).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: alice@example.com\r\n"), "{text}");
        assert!(text.contains("Subject: Your code\r\n"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: <{}@example.com>\r\n", m.id)),
            "{text}"
        );
        assert!(text.contains("Your Deadbolt code is 123456"), "{text}");
    }

    #[tokio::test]
    async fn texts_and_calls_are_json_files() {
        let root = tempfile::tempdir().unwrap();
        let channel = PhoneFileChannel::new(root.path().join("sms")).unwrap();
        let m = message("voice", "+12015550123");
        channel.send(&m).await.unwrap();
        let files = files_in(&root.path().join("sms"));
        assert_eq!(files.len(), 1);
        assert!(files[0].to_string_lossy().ends_with(".json"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"to": "+12015550123", "body": "Your Deadbolt code is 123456", "channel": "voice"})
        );
        let err = channel
            .send(&message("email", "a@example.com"))
            .await
            .unwrap_err();
        assert!(err.permanent);
    }
}
