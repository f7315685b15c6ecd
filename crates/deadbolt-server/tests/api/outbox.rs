//! Mail goes through a durable outbox: accepted messages survive outages and restarts, and are
//! handed over once.

use crate::helpers::*;

#[tokio::test]
async fn mail_accepted_during_an_smtp_outage_is_delivered_once_it_returns() {
    let mut app = spawn_app_with(
        Options {
            mail_down: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    app.sign_up("outage@example.com").await;
    assert!(app.next_mail_within(3).await.is_none());
    app.start_mail();
    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["outage@example.com"]);
    assert_eq!(mail.code().len(), 6);
    assert!(
        app.next_mail_within(4).await.is_none(),
        "delivered exactly once"
    );
}

#[tokio::test]
async fn transient_smtp_refusals_are_retried() {
    let mut app = spawn_app_with(
        Options {
            fail_first: 2,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    app.sign_up("retry@example.com").await;
    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["retry@example.com"]);
    assert!(
        app.next_mail_within(4).await.is_none(),
        "delivered exactly once"
    );
}

#[tokio::test]
async fn mail_queued_before_a_restart_is_delivered_after_it() {
    let mut app = spawn_app_with(
        Options {
            mail_down: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    app.sign_up("restart-mail@example.com").await;
    app.stop_server().await;
    app.start_mail();
    assert!(
        app.next_mail_within(2).await.is_none(),
        "nobody sends while the server is down"
    );
    app.restart().await;
    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["restart-mail@example.com"]);
    // a delivered message is never sent again, not even by the next instance
    app.restart().await;
    assert!(app.next_mail_within(4).await.is_none());
}

#[tokio::test]
async fn a_waiting_message_is_sealed_and_survives_a_master_key_rotation() {
    let mut app = spawn_app_with(
        Options {
            mail_down: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    app.sign_up("sealed-mail@example.com").await;
    let store = deadbolt_store::Store::open(&app.config.database.url, 1).unwrap();
    let waiting = store.sealed_waiting_messages().await.unwrap();
    assert_eq!(waiting.len(), 1, "the code's message waits, sealed");
    let old_key = waiting[0].master_key_id().unwrap().to_owned();

    let report = deadbolt_usecases::rotation::rotate(
        &store,
        &app.config.secrets.master_key_file,
        &deadbolt_usecases::system::OsRandom,
    )
    .await
    .unwrap();
    assert_eq!(report.messages, 1);
    let waiting = store.sealed_waiting_messages().await.unwrap();
    assert_eq!(waiting[0].master_key_id(), Some(report.new_key_id.as_str()));
    assert_ne!(report.new_key_id, old_key);
    // the old key is no longer needed by anything, so it goes
    assert_eq!(
        deadbolt_usecases::rotation::prune(&store, &app.config.secrets.master_key_file)
            .await
            .unwrap(),
        1
    );

    app.start_mail();
    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["sealed-mail@example.com"]);
    assert_eq!(mail.code().len(), 6, "the words opened with the new key");
    // once recorded as sent, its sealed words are wiped too
    let mut waiting = 1;
    for _ in 0..50 {
        waiting = store.sealed_waiting_messages().await.unwrap().len();
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(waiting, 0);
}
