//! `Context::commit` wakes the outbox worker when, and only when, a committed batch queued a
//! message.

use crate::support::*;
use deadbolt_core::code::CodePurpose;
use deadbolt_store::BatchOutcome;
use deadbolt_usecases::challenge::{self, Purpose};
use deadbolt_usecases::codes::{self, CodeFor, Destination};
use std::time::Duration;

/// Whether the outbox was woken since the last look (a wake with nobody waiting leaves a
/// permit, which `notified` takes at once).
async fn woken(w: &World) -> bool {
    tokio::time::timeout(Duration::from_millis(50), w.ctx.outbox_wake().notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_committed_batch_that_queues_a_message_wakes_the_outbox() {
    let w = world().await;
    let account = w.account("wake@example.com").await;
    assert!(!woken(&w).await, "nothing was queued yet");
    let what = CodeFor::account(CodePurpose::ResetPassword);
    let (_, message) =
        codes::new_code(&w.ctx, &account, &what, &Destination::email(&account)).unwrap();
    let outcome = w.ctx.commit(vec![message.write()]).await.unwrap();
    assert_eq!(outcome, BatchOutcome::Committed);
    assert!(woken(&w).await);
    assert_eq!(w.mail().await.len(), 1, "and the message is in the queue");
}

#[tokio::test]
async fn a_batch_without_a_message_or_that_fails_its_guard_does_not_wake_the_outbox() {
    let w = world().await;
    let account = w.account("asleep@example.com").await;
    let (_, opened) = challenge::open(&w.ctx, &account, Purpose::Login, None);
    let outcome = w.ctx.commit(vec![opened.insert()]).await.unwrap();
    assert_eq!(outcome, BatchOutcome::Committed);
    assert!(!woken(&w).await, "nothing was queued");

    // a code sent: its batch queues the message and wakes the outbox
    let what = CodeFor::account(CodePurpose::ResetPassword);
    let to = Destination::email(&account);
    let send = || codes::code_writes(&w.ctx, &account, &client(), &what, &to).unwrap();
    assert_eq!(w.ctx.commit(send()).await.unwrap(), BatchOutcome::Committed);
    assert!(woken(&w).await);
    // another at once: the resend limit's guard rolls the batch back, message and all
    let outcome = w.ctx.commit(send()).await.unwrap();
    assert!(
        matches!(outcome, BatchOutcome::GuardFailed(_)),
        "{outcome:?}"
    );
    assert!(
        !woken(&w).await,
        "a rolled-back message is no reason to wake"
    );
    assert_eq!(w.mail().await.len(), 1);
}
