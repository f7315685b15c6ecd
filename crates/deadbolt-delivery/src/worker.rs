//! The outbox worker: claims due messages under a lease, hands each to its channel, and records
//! the outcome. A message is marked sent as soon as the provider acknowledges it, so it is never
//! handed over twice after that; one that was never acknowledged is tried again after a crash or
//! an outage, with exponential backoff.

use crate::Channel;
use deadbolt_core::clock::Clock;
use deadbolt_core::delivery::{RetryDecision, RetryPolicy};
use deadbolt_core::random::Random;
use deadbolt_store::{BodyKeys, OutboxMessage, SealedMessage, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// A lease long enough for any single hand-off (SMTP times out at 15 s).
const LEASE: time::Duration = time::Duration::seconds(60);
/// How often to look for due messages when nobody rings: retries, and other instances' work.
const POLL: Duration = Duration::from_secs(1);
const BATCH: u32 = 32;

pub struct OutboxWorker {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub channels: HashMap<String, Arc<dyn Channel>>,
    /// Open the words of the messages, sealed while they wait.
    pub keys: Arc<dyn BodyKeys>,
    pub retry: RetryPolicy,
    /// Rung when a message is enqueued here, so it goes out at once.
    pub wake: Arc<Notify>,
}

/// Stops the worker when dropped or asked.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl OutboxWorker {
    pub fn spawn(self) -> WorkerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match self.drain_once().await {
                    // a full batch: there may be more waiting
                    Ok(n) if n == BATCH as usize => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox: cannot claim messages"),
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        WorkerHandle { stop, task }
    }

    /// Claims and delivers one batch; returns how many messages it claimed.
    pub async fn drain_once(&self) -> Result<usize, deadbolt_store::StoreError> {
        let now = self.clock.now();
        let batch = self.store.claim_outbox(now, now + LEASE, BATCH).await?;
        let n = batch.len();
        for sealed in batch {
            match sealed.open(self.keys.as_ref()) {
                Ok(m) => self.deliver(m).await,
                Err(e) => self.unopenable(&sealed, &e.to_string()).await,
            }
        }
        Ok(n)
    }

    /// A body that cannot be opened (its master key was removed, or the row was tampered with)
    /// never will be: the message is dead, for an operator to see.
    async fn unopenable(&self, m: &SealedMessage, error: &str) {
        tracing::error!(message_id = %m.id, error, "outbox: cannot open a message");
        if let Err(e) = self
            .store
            .outbox_failed(m.id, self.clock.now(), error, true)
            .await
        {
            tracing::error!(message_id = %m.id, error = %e, "outbox: cannot record outcome");
        }
    }

    async fn deliver(&self, m: OutboxMessage) {
        let result = match self.channels.get(&m.channel) {
            Some(channel) => channel.send(&m).await,
            None => Err(crate::DeliveryError {
                message: format!("no channel configured for {}", m.channel),
                permanent: false,
            }),
        };
        let now = self.clock.now();
        let recorded = match result {
            Ok(()) => {
                tracing::info!(message_id = %m.id, channel = %m.channel, "outbox: delivered");
                self.store.outbox_sent(m.id, now).await
            }
            Err(e) => {
                let attempts = m.attempts + 1;
                let (next, dead) =
                    match self
                        .retry
                        .after_failure(attempts, e.permanent, self.rng.as_ref())
                    {
                        RetryDecision::RetryAfter(wait) => (now + wait, false),
                        RetryDecision::GiveUp => (now, true),
                    };
                tracing::warn!(message_id = %m.id, attempts, dead, error = %e, "outbox: delivery failed");
                self.store.outbox_failed(m.id, next, &e.message, dead).await
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the message is tried again: at least once, never lost.
            tracing::error!(message_id = %m.id, error = %e, "outbox: cannot record outcome");
        }
    }
}
