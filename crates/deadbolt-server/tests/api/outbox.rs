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
