//! Email: over SMTP (lettre), or, where no mail server is configured, written as RFC 5322
//! files that any mail client opens. Both build the message the same way.

use crate::{Channel, DeliveryError};
use async_trait::async_trait;
use deadbolt_store::OutboxMessage;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// How messages are composed: the sender, and a `Message-ID` and an `X-Deadbolt-Message-Id`
/// made from the outbox id, so that a message handed over twice (a crash between the server's
/// acceptance and its record) is recognisable as one by the receiving side.
#[derive(Clone)]
struct Composer {
    from: Mailbox,
}

impl Composer {
    fn new(from: &str) -> anyhow::Result<Self> {
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid from address: {e}"))?;
        Ok(Self { from })
    }

    fn compose(&self, m: &OutboxMessage) -> Result<Message, DeliveryError> {
        let permanent = |e: String| DeliveryError {
            message: e,
            permanent: true,
            unreachable: false,
        };
        let to: Mailbox = m
            .recipient
            .parse()
            .map_err(|e| permanent(format!("bad recipient: {e}")))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .message_id(Some(format!("<{}@{}>", m.id, self.from.email.domain())))
            .raw_header(HeaderValue::new(MESSAGE_ID_HEADER, m.id.to_string()))
            .subject(m.subject.clone());
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(m.body_text.clone());
        let built = match &m.body_html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        };
        built.map_err(|e| permanent(format!("cannot build message: {e}")))
    }
}

/// The outbox id, as webhooks carry it too ([`crate::webhook::MESSAGE_ID_HEADER`]).
const MESSAGE_ID_HEADER: HeaderName = HeaderName::new_from_ascii_str("X-Deadbolt-Message-Id");

pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    composer: Composer,
}

impl SmtpChannel {
    /// `smtp_url` as lettre reads it: `smtp://host:port` (plain; `?tls=required` for STARTTLS),
    /// `smtps://host:port` (implicit TLS), with optional `user:password@`.
    pub fn new(smtp_url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| anyhow::anyhow!("invalid smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        Ok(Self {
            transport,
            composer: Composer::new(from)?,
        })
    }
}

#[async_trait]
impl Channel for SmtpChannel {
    async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        let message = self.composer.compose(m)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError {
                permanent: e.is_permanent(),
                message: format!("smtp: {e}"),
                // neither a reply from the server nor a fault of ours: the connection failed
                unreachable: !(e.is_transient()
                    || e.is_permanent()
                    || e.is_response()
                    || e.is_client()),
            })
    }
}

/// Mail written to files: `<dir>/<time>-<id>.eml`, one RFC 5322 message each, mode 0600. The
/// name depends only on the message, so a message written again after a crash replaces its
/// own file: it is never there twice.
pub struct MailFileChannel {
    dir: PathBuf,
    composer: Composer,
}

impl MailFileChannel {
    /// Creates `dir` (mode 0700) if needed.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> anyhow::Result<Self> {
        let dir = dir.into();
        deadbolt_store::files::private_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        Ok(Self {
            dir,
            composer: Composer::new(from)?,
        })
    }
}

#[async_trait]
impl Channel for MailFileChannel {
    async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        let bytes = self.composer.compose(m)?.formatted();
        let path = self.dir.join(crate::files::file_name(m, "eml"));
        crate::files::write(path, bytes).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a panic in a test is a failed test")]

    use super::*;
    use deadbolt_core::ids::MessageId;

    #[test]
    fn a_message_names_its_outbox_id_twice_the_same_on_every_try() {
        let composer = Composer::new("Deadbolt <no-reply@example.com>").unwrap();
        let id = MessageId(uuid::Uuid::from_u128(0x0b9f_2c1e));
        let m = OutboxMessage {
            id,
            channel: "email".to_owned(),
            recipient: "someone@example.com".to_owned(),
            subject: "Your code".to_owned(),
            body_text: "text".to_owned(),
            body_html: None,
            attempts: 3,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let first = String::from_utf8(composer.compose(&m).unwrap().formatted()).unwrap();
        let again = String::from_utf8(composer.compose(&m).unwrap().formatted()).unwrap();
        for text in [&first, &again] {
            assert!(
                text.contains(&format!("Message-ID: <{id}@example.com>\r\n")),
                "{text}"
            );
            assert!(
                text.contains(&format!("X-Deadbolt-Message-Id: {id}\r\n")),
                "{text}"
            );
        }
    }
}
