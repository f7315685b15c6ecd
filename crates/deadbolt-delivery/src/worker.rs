//! The outbox worker: claims due messages under a lease, hands each to its channel, and records
//! the outcome.
//!
//! Delivery is at least once, and twice only in one narrow window. A message is marked sent as
//! soon as the provider acknowledges it, so it is never handed over again after that record. A
//! message that was never acknowledged is tried again after a crash or an outage. What no sender
//! can close is the time between the provider's acknowledgement (an SMTP 250, a webhook's 2xx)
//! and the database's commit of the record: a crash there sends the message again after the
//! restart, with the same `Message-ID` and `X-Deadbolt-Message-Id`, so that the receiver can
//! drop the copy. That window is one write long; nothing else runs inside it.
//!
//! A claim is a token of its own, and the worker keeps its lease alive while it works through
//! the batch, so the lease can be short: a killed instance's messages are taken over within
//! [`LEASE`], while a live one, however slow its provider, keeps what it holds. A worker whose
//! renewals stall (its lease may have run out and another worker taken over) stops before its
//! next hand-off, and records a failure only for messages its claim still holds.

use crate::{Channel, DeliveryError};
use deadbolt_core::clock::{from_millis, to_millis, Clock};
use deadbolt_core::delivery::{RetryDecision, RetryPolicy};
use deadbolt_core::random::{Random, RandomExt};
use deadbolt_store::{BodyKeys, OutboxMessage, SealedMessage, Store};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How long a claim holds its messages without a renewal: how long a killed instance's
/// messages wait before another worker (or the restarted instance) takes them over.
pub const LEASE: time::Duration = time::Duration::seconds(30);
/// How often a worker renews the lease of the batch it is working through.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// A hand-off starts only while the lease has at least this long to run: the renewals have
/// stalled otherwise, and the rest of the batch is left to whoever claims it next.
const LEASE_MARGIN: time::Duration = time::Duration::seconds(10);
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

/// The running worker's own state.
struct Running {
    worker: OutboxWorker,
    /// Channels that may be down: where a provider did not answer since its last delivery. Every
    /// channel starts here, since messages left waiting by an earlier run (a crash during an
    /// outage) are due as soon as the provider is seen to answer.
    maybe_down: Mutex<HashSet<String>>,
}

impl OutboxWorker {
    pub fn spawn(self) -> WorkerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let running = Running {
            maybe_down: Mutex::new(self.channels.keys().cloned().collect()),
            worker: self,
        };
        let task = tokio::spawn(async move {
            loop {
                match running.drain_once().await {
                    // a full batch: there may be more waiting
                    Ok(n) if n == BATCH as usize => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox: cannot claim messages"),
                }
                tokio::select! {
                    _ = running.worker.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        WorkerHandle { stop, task }
    }
}

/// Renews a claim's lease every [`RENEW_EVERY`] until dropped; `held` is the end of the last
/// lease the database granted.
struct Renewal {
    held: Arc<AtomicI64>,
    task: JoinHandle<()>,
}

impl Renewal {
    fn start(w: &OutboxWorker, claim: &str, lease_until: time::OffsetDateTime) -> Self {
        let held = Arc::new(AtomicI64::new(to_millis(lease_until)));
        let task = tokio::spawn({
            let (store, clock, claim, held) = (
                w.store.clone(),
                w.clock.clone(),
                claim.to_owned(),
                held.clone(),
            );
            async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    let until = clock.now() + LEASE;
                    match store.renew_outbox_claim(&claim, until).await {
                        Ok(_) => held.store(to_millis(until), Ordering::Relaxed),
                        Err(e) => tracing::warn!(error = %e, "outbox: cannot renew a lease"),
                    }
                }
            }
        });
        Self { held, task }
    }

    fn held_until(&self) -> time::OffsetDateTime {
        from_millis(self.held.load(Ordering::Relaxed))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Running {
    async fn drain_once(&self) -> Result<usize, deadbolt_store::StoreError> {
        let w = &self.worker;
        let now = w.clock.now();
        let claim = uuid::Uuid::from_bytes(w.rng.bytes::<16>()).to_string();
        let batch = w
            .store
            .claim_outbox(now, now + LEASE, BATCH, &claim)
            .await?;
        let n = batch.len();
        if n == 0 {
            return Ok(0);
        }
        let renewal = Renewal::start(w, &claim, now + LEASE);
        for sealed in batch {
            if w.clock.now() + LEASE_MARGIN > renewal.held_until() {
                tracing::warn!(
                    "outbox: the lease could not be renewed; the rest of the batch is left to the next claim"
                );
                break;
            }
            match sealed.open(w.keys.as_ref()) {
                Ok(m) => self.deliver(m, &claim).await,
                Err(e) => self.unopenable(&sealed, &claim, &e.to_string()).await,
            }
        }
        drop(renewal);
        Ok(n)
    }

    /// A body that cannot be opened (its master key was removed, or the row was tampered with)
    /// never will be: the message is dead, for an operator to see.
    async fn unopenable(&self, m: &SealedMessage, claim: &str, error: &str) {
        let w = &self.worker;
        tracing::error!(message_id = %m.id, error, "outbox: cannot open a message");
        if let Err(e) = w
            .store
            .outbox_failed(m.id, claim, w.clock.now(), error, true)
            .await
        {
            tracing::error!(message_id = %m.id, error = %e, "outbox: cannot record outcome");
        }
    }

    async fn deliver(&self, m: OutboxMessage, claim: &str) {
        let w = &self.worker;
        let result = match w.channels.get(&m.channel) {
            Some(channel) => channel.send(&m).await,
            None => Err(DeliveryError {
                message: format!("no channel configured for {}", m.channel),
                permanent: false,
                unreachable: false,
            }),
        };
        let now = w.clock.now();
        match result {
            Ok(()) => {
                // The one write between the provider's acknowledgement and its record: nothing
                // else may come first (see the module documentation).
                match w.store.outbox_sent(m.id, now).await {
                    Ok(true) => {
                        tracing::info!(message_id = %m.id, channel = %m.channel, "outbox: delivered");
                    }
                    Ok(false) => tracing::warn!(
                        message_id = %m.id, channel = %m.channel,
                        "outbox: delivered, and already recorded as sent by another worker"
                    ),
                    // The lease runs out and the message is tried again: at least once, never lost.
                    Err(e) => {
                        tracing::error!(message_id = %m.id, error = %e, "outbox: cannot record a delivery");
                    }
                }
                self.answers_again(&m.channel, now).await;
            }
            Err(e) => {
                if e.unreachable {
                    self.lock_down().insert(m.channel.clone());
                }
                let attempts = m.attempts + 1;
                let (next, dead) =
                    match w.retry.after_failure(attempts, e.permanent, w.rng.as_ref()) {
                        RetryDecision::RetryAfter(wait) => (now + wait, false),
                        RetryDecision::GiveUp => (now, true),
                    };
                tracing::warn!(message_id = %m.id, attempts, dead, error = %e, "outbox: delivery failed");
                match w
                    .store
                    .outbox_failed(m.id, claim, next, &e.message, dead)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        message_id = %m.id,
                        "outbox: the message was taken over by another worker; its failure here is not recorded"
                    ),
                    Err(e) => {
                        tracing::error!(message_id = %m.id, error = %e, "outbox: cannot record a failure");
                    }
                }
            }
        }
    }

    /// A delivery on `channel` succeeded: if its provider may have been down, the messages
    /// waiting for a retry on it are due now rather than at the end of their backoff.
    async fn answers_again(&self, channel: &str, now: time::OffsetDateTime) {
        if !self.lock_down().remove(channel) {
            return;
        }
        match self.worker.store.outbox_retry_now(channel, now).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    channel,
                    waiting = n,
                    "outbox: the provider answers again; waiting messages are due now"
                );
                self.worker.wake.notify_one();
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "outbox: cannot bring waiting messages forward");
            }
        }
    }

    fn lock_down(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.maybe_down
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a panic in a test is a failed test"
    )]

    use super::*;
    use async_trait::async_trait;
    use deadbolt_core::ids::MessageId;
    use deadbolt_core::random::SeededRandom;
    use time::macros::datetime;
    use time::OffsetDateTime;

    const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

    /// Tokio's clock as a wall clock, so that paused test time moves both together.
    struct TokioClock(tokio::time::Instant);

    impl Clock for TokioClock {
        fn now(&self) -> OffsetDateTime {
            T0 + self.0.elapsed()
        }
    }

    /// A provider that takes `delay` per message, answers nothing while `down`, and keeps the
    /// ids it acknowledged.
    #[derive(Default)]
    struct Provider {
        delay: Duration,
        down: std::sync::atomic::AtomicBool,
        got: Mutex<Vec<MessageId>>,
    }

    #[async_trait]
    impl Channel for Provider {
        async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
            tokio::time::sleep(self.delay).await;
            if self.down.load(Ordering::Relaxed) {
                return Err(DeliveryError {
                    message: "cannot connect".to_owned(),
                    permanent: false,
                    unreachable: true,
                });
            }
            self.got.lock().unwrap().push(m.id);
            Ok(())
        }
    }

    impl Provider {
        fn got(&self) -> Vec<MessageId> {
            let mut got = self.got.lock().unwrap().clone();
            got.sort();
            got
        }
    }

    struct Setup {
        store: Store,
        provider: Arc<Provider>,
        rng: Arc<SeededRandom>,
        _dir: tempfile::TempDir,
    }

    async fn setup(delay: Duration) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("sqlite://{}", dir.path().join("t.db").display()),
            1,
        )
        .unwrap();
        store.migrate().await.unwrap();
        Setup {
            store,
            provider: Arc::new(Provider {
                delay,
                ..Default::default()
            }),
            rng: Arc::new(SeededRandom::new(7)),
            _dir: dir,
        }
    }

    impl Setup {
        fn worker(&self, clock: Arc<dyn Clock>) -> Running {
            let provider: Arc<dyn Channel> = self.provider.clone();
            Running {
                worker: OutboxWorker {
                    store: self.store.clone(),
                    clock,
                    rng: self.rng.clone(),
                    channels: HashMap::from([("email".to_owned(), provider)]),
                    keys: Arc::new(StandInKeys),
                    retry: RetryPolicy::default(),
                    wake: Arc::new(Notify::new()),
                },
                maybe_down: Mutex::new(HashSet::new()),
            }
        }

        async fn queue(&self, at: OffsetDateTime) -> MessageId {
            let m = OutboxMessage {
                id: MessageId::generate(self.rng.as_ref()),
                channel: "email".to_owned(),
                recipient: "someone@example.com".to_owned(),
                subject: "s".to_owned(),
                body_text: "b".to_owned(),
                body_html: None,
                attempts: 0,
                created_at: at,
            };
            let sealed = m.seal(&StandInKeys).unwrap();
            #[allow(clippy::disallowed_methods, reason = "the test is the outbox worker's")]
            self.store.commit(vec![sealed.write()]).await.unwrap();
            m.id
        }
    }

    /// These tests are about claims and leases: the words are kept as they are (the server's
    /// master keys seal them, and its tests check that).
    struct StandInKeys;

    impl BodyKeys for StandInKeys {
        fn seal(
            &self,
            plaintext: &[u8],
            _aad: &[u8],
        ) -> Result<deadbolt_store::SealedBody, String> {
            Ok(deadbolt_store::SealedBody {
                master_key_id: "stand-in".to_owned(),
                nonce: vec![0; 24],
                ciphertext: plaintext.to_vec(),
            })
        }

        fn open(
            &self,
            sealed: &deadbolt_store::SealedBody,
            _aad: &[u8],
        ) -> Result<Vec<u8>, String> {
            Ok(sealed.ciphertext.clone())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_batch_keeps_its_claim_and_each_message_goes_out_once() {
        // three hand-offs of 20 s each: the batch outlives its first lease twice over
        let s = setup(Duration::from_secs(20)).await;
        let clock: Arc<dyn Clock> = Arc::new(TokioClock(tokio::time::Instant::now()));
        let mut queued = Vec::new();
        for _ in 0..3 {
            queued.push(s.queue(T0).await);
        }
        queued.sort();
        let first = s.worker(clock.clone());
        let other = s.worker(clock.clone());
        let busy = tokio::spawn(async move { first.drain_once().await.unwrap() });
        // another instance looks for work all along; the renewed lease keeps it out
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert_eq!(other.drain_once().await.unwrap(), 0);
        }
        assert_eq!(busy.await.unwrap(), 3);
        assert_eq!(s.provider.got(), queued);
    }

    #[tokio::test(start_paused = true)]
    async fn a_killed_workers_claim_is_taken_over_after_the_lease() {
        let s = setup(Duration::from_secs(20)).await;
        let clock: Arc<dyn Clock> = Arc::new(TokioClock(tokio::time::Instant::now()));
        let id = s.queue(T0).await;
        let killed = s.worker(clock.clone());
        let busy = tokio::spawn(async move { killed.drain_once().await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        // killed mid hand-off: no record, no renewals
        busy.abort();
        let _ = busy.await;
        let next = s.worker(clock.clone());
        tokio::time::sleep(Duration::from_secs(28)).await;
        assert_eq!(next.drain_once().await.unwrap(), 0, "the lease still holds");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(next.drain_once().await.unwrap(), 1);
        assert_eq!(s.provider.got(), vec![id]);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_messages_are_due_as_soon_as_the_provider_answers_again() {
        let s = setup(Duration::ZERO).await;
        let clock: Arc<dyn Clock> = Arc::new(TokioClock(tokio::time::Instant::now()));
        let w = s.worker(clock.clone());
        s.provider.down.store(true, Ordering::Relaxed);
        let mut waiting = Vec::new();
        for _ in 0..3 {
            waiting.push(s.queue(clock.now()).await);
        }
        // each tried five times, each failure doubling the wait: 2, 4, 8, 16, then 32 s (with
        // jitter, so they need not come due together)
        let mut tries = 0;
        while tries < 15 {
            tries += w.drain_once().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(tries, 15);
        assert!(s.provider.got().is_empty());
        s.provider.down.store(false, Ordering::Relaxed);
        // a new message goes out at once, and shows the provider answers: the others, with a
        // minute or more still to wait, are due at once too
        let fresh = s.queue(clock.now()).await;
        assert_eq!(w.drain_once().await.unwrap(), 1);
        assert_eq!(s.provider.got(), vec![fresh]);
        assert_eq!(w.drain_once().await.unwrap(), 3);
        waiting.push(fresh);
        waiting.sort();
        assert_eq!(s.provider.got(), waiting);
    }
}
