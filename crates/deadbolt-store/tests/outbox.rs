//! The outbox's claims, on the backend DEADBOLT_TEST_DATABASE names (sqlite, the default, or
//! postgres at DEADBOLT_TEST_POSTGRES_URL): a claim holds its messages for its lease and while
//! it renews it, a dead worker's messages are taken over once the lease ends, and a worker whose
//! lease ran out cannot undo what the worker that took over recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test"
)]

use deadbolt_core::ids::MessageId;
use deadbolt_core::random::SeededRandom;
use deadbolt_store::{BodyKeys, OutboxMessage, SealedBody, SealedMessage, Store};
use deadbolt_test_support::database::fresh_database_url;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);
const LEASE: Duration = Duration::seconds(30);

struct Fresh {
    store: Store,
    _dir: tempfile::TempDir,
}

/// An empty, migrated database of the backend under test.
async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database_url(&dir.path().join("t.db"), "deadbolt_outbox").await;
    let store = Store::open(&url, 4).expect("open");
    store.migrate().await.expect("migrate");
    Fresh { store, _dir: dir }
}

impl Fresh {
    /// What worker `worker` claims at `at`, for a lease of [`LEASE`].
    async fn claim(&self, at: OffsetDateTime, worker: &str) -> Vec<SealedMessage> {
        self.store
            .claim_outbox(at, at + LEASE, 32, worker)
            .await
            .expect("claim")
    }
}

async fn queue(store: &Store, rng: &SeededRandom, channel: &str) -> MessageId {
    let m = OutboxMessage {
        id: MessageId::generate(rng),
        channel: channel.to_owned(),
        recipient: "someone@example.com".to_owned(),
        subject: "s".to_owned(),
        body_text: "b".to_owned(),
        body_html: None,
        attempts: 0,
        created_at: T0,
    };
    let sealed = m.seal(&StandInKeys).expect("seal");
    #[allow(
        clippy::disallowed_methods,
        reason = "the store's own test, below the use cases"
    )]
    store.commit(vec![sealed.write()]).await.expect("queue");
    m.id
}

/// These tests are about claims, not sealing (the server's master keys seal; its tests check
/// that): the words are kept as they are.
struct StandInKeys;

impl BodyKeys for StandInKeys {
    fn seal(&self, plaintext: &[u8], _aad: &[u8]) -> Result<SealedBody, String> {
        Ok(SealedBody {
            master_key_id: "stand-in".to_owned(),
            nonce: vec![0; 24],
            ciphertext: plaintext.to_vec(),
        })
    }

    fn open(&self, sealed: &SealedBody, _aad: &[u8]) -> Result<Vec<u8>, String> {
        Ok(sealed.ciphertext.clone())
    }
}

fn ids(batch: &[SealedMessage]) -> Vec<MessageId> {
    let mut ids: Vec<_> = batch.iter().map(|m| m.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_dead_workers_claim_is_taken_over_when_its_lease_ends_and_not_before() {
    let f = fresh().await;
    let rng = SeededRandom::new(1);
    let mut queued = vec![
        queue(&f.store, &rng, "email").await,
        queue(&f.store, &rng, "sms").await,
    ];
    queued.sort();
    let a = f.claim(T0, "a").await;
    assert_eq!(ids(&a), queued);
    let early = T0 + LEASE - Duration::milliseconds(1);
    assert!(f.claim(early, "b").await.is_empty());
    // worker a died: its messages go to the next claim once its lease has ended
    let later = T0 + LEASE;
    let b = f.claim(later, "b").await;
    assert_eq!(ids(&b), queued);
}

#[tokio::test]
async fn renewals_keep_a_claim_for_as_long_as_its_worker_lives() {
    let f = fresh().await;
    let rng = SeededRandom::new(2);
    let first = queue(&f.store, &rng, "email").await;
    queue(&f.store, &rng, "email").await;
    assert_eq!(f.claim(T0, "a").await.len(), 2);
    let mut now = T0;
    for _ in 0..4 {
        now += Duration::seconds(25);
        assert_eq!(
            f.store.renew_outbox_claim("a", now + LEASE).await.unwrap(),
            2
        );
        assert!(f.claim(now, "b").await.is_empty());
    }
    // a recorded message is no longer held: only the other one is renewed
    assert!(f.store.outbox_sent(first, now).await.unwrap());
    assert_eq!(
        f.store.renew_outbox_claim("a", now + LEASE).await.unwrap(),
        1
    );
    // another claim's renewal holds nothing of a's
    assert_eq!(
        f.store.renew_outbox_claim("b", now + LEASE).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_worker_whose_lease_ran_out_cannot_undo_the_record_of_the_one_that_took_over() {
    let f = fresh().await;
    let rng = SeededRandom::new(3);
    let id = queue(&f.store, &rng, "email").await;
    f.claim(T0, "a").await;
    // a stalled past its lease; b took the message over and delivered it
    let now = T0 + LEASE + Duration::seconds(1);
    assert_eq!(f.claim(now, "b").await.len(), 1);
    assert!(f.store.outbox_sent(id, now).await.unwrap());
    // a's failure, recorded late, changes nothing: the message stays sent
    assert!(!f
        .store
        .outbox_failed(id, "a", now, "smtp: timed out", false)
        .await
        .unwrap());
    assert!(!f.store.outbox_sent(id, now).await.unwrap(), "sent once");
    let much_later = now + Duration::hours(1);
    assert!(f.claim(much_later, "c").await.is_empty());
}

#[tokio::test]
async fn a_delivery_recorded_by_a_worker_whose_lease_ran_out_still_counts() {
    let f = fresh().await;
    let rng = SeededRandom::new(4);
    let id = queue(&f.store, &rng, "sms").await;
    f.claim(T0, "a").await;
    let now = T0 + LEASE + Duration::seconds(1);
    f.claim(now, "b").await;
    // the provider acknowledged a's hand-off: a fact, whoever holds the message now
    assert!(f.store.outbox_sent(id, now).await.unwrap());
    // b's own try failed meanwhile; it does not make the message pending again
    assert!(!f
        .store
        .outbox_failed(id, "b", now + Duration::seconds(2), "webhook: 503", false)
        .await
        .unwrap());
    let much_later = now + Duration::hours(1);
    assert!(f.claim(much_later, "c").await.is_empty());
}

#[tokio::test]
async fn a_failure_reschedules_and_retry_now_brings_one_channels_waiting_messages_forward() {
    let f = fresh().await;
    let rng = SeededRandom::new(5);
    let mut mail = vec![
        queue(&f.store, &rng, "email").await,
        queue(&f.store, &rng, "email").await,
    ];
    mail.sort();
    let text = queue(&f.store, &rng, "sms").await;
    f.claim(T0, "a").await;
    let later = T0 + Duration::seconds(900);
    for id in mail.iter().chain([&text]) {
        assert!(f
            .store
            .outbox_failed(*id, "a", later, "cannot connect", false)
            .await
            .unwrap());
    }
    let now = T0 + Duration::seconds(10);
    assert!(f.claim(now, "b").await.is_empty());
    assert_eq!(f.store.outbox_retry_now("email", now).await.unwrap(), 2);
    let due = f.claim(now, "b").await;
    assert_eq!(ids(&due), mail);
    assert!(due.iter().all(|m| m.attempts == 1));
    for m in &due {
        assert!(f.store.outbox_sent(m.id, now).await.unwrap());
    }
    // the text still waits for its own time
    assert!(f
        .store
        .claim_outbox(later - Duration::seconds(1), later, 32, "c")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(ids(&f.claim(later, "c").await), vec![text]);
}
