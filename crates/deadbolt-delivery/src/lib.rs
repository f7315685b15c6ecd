//! Delivery: the channels that carry messages (email over SMTP or written to files; SMS and
//! voice through a signed webhook, Twilio or files) and the outbox worker that drains the durable outbox through them with
//! retries and backoff.

pub mod email;
pub mod files;
pub mod twilio;
pub mod webhook;
pub mod worker;

pub use email::{MailFileChannel, SmtpChannel};
pub use files::PhoneFileChannel;
pub use twilio::TwilioChannel;
pub use webhook::WebhookChannel;
pub use worker::{OutboxWorker, WorkerHandle};

use async_trait::async_trait;
use deadbolt_store::OutboxMessage;

/// Why a hand-off failed, and whether trying again could help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// The provider refused the message itself (a bad recipient, say): retrying cannot help.
    pub permanent: bool,
    /// No answer from the provider at all (no connection, none in time): this says nothing
    /// about the message, only that the provider is down. Messages that wait for a retry are
    /// tried at once when it answers again.
    pub unreachable: bool,
}

/// Something that hands a message to a provider; `Ok` means the provider acknowledged it.
#[async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, message: &OutboxMessage) -> Result<(), DeliveryError>;
}
