//! Email over SMTP (lettre).

use crate::{Channel, DeliveryError};
use async_trait::async_trait;
use deadbolt_store::OutboxMessage;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpChannel {
    /// `smtp_url` as lettre reads it: `smtp://host:port` (plain; `?tls=required` for STARTTLS),
    /// `smtps://host:port` (implicit TLS), with optional `user:password@`.
    pub fn new(smtp_url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| anyhow::anyhow!("invalid smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid from address: {e}"))?;
        Ok(Self { transport, from })
    }

    fn build(&self, m: &OutboxMessage) -> Result<Message, DeliveryError> {
        let permanent = |e: String| DeliveryError {
            message: e,
            permanent: true,
        };
        let to: Mailbox = m
            .recipient
            .parse()
            .map_err(|e| permanent(format!("bad recipient: {e}")))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
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

#[async_trait]
impl Channel for SmtpChannel {
    async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        let message = self.build(m)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError {
                permanent: e.is_permanent(),
                message: format!("smtp: {e}"),
            })
    }
}
