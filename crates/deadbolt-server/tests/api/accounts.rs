use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn sign_up_sends_a_code_that_verifies_the_email() {
    let mut app = spawn_app().await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "Jane@Example.com", "password": PASSWORD, "phone": "+12015550123"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["email"], "jane@example.com");
    assert_eq!(body["email_verified"], false);
    assert_eq!(body["phone"], "+12015550123");
    assert_eq!(body["phone_verified"], false);

    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["jane@example.com"]);
    assert_eq!(mail.subject, "Verify your email address");
    assert!(
        mail.html
            .as_deref()
            .is_some_and(|h| h.contains(&mail.code())),
        "HTML part carries the code too"
    );
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "jane@example.com", "channel": "email", "code": mail.code()}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"email_verified": true, "phone_verified": false})
    );

    // a code works once
    let again = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "jane@example.com", "channel": "email", "code": mail.code()}),
        )
        .await;
    assert_problem(again, 400, "invalid_code").await;

    let tokens: Value = app
        .login("jane@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .get_auth("/v1/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
    let events: Value = app
        .get_auth("/v1/me/events", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    let mut kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let times: Vec<time::OffsetDateTime> = items
        .iter()
        .map(|e| {
            time::OffsetDateTime::parse(
                e["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "account_created",
            "email_verified",
            "login_succeeded",
            "verification_failed"
        ]
    );
}

#[tokio::test]
async fn duplicate_email_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    app.sign_up("dup@example.com").await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "DUP@example.COM", "password": PASSWORD}),
        )
        .await;
    assert_problem(r, 409, "email_taken").await;
}

#[tokio::test]
async fn bad_sign_ups_are_refused_and_leave_nothing_behind() {
    let mut app = spawn_app().await;
    for (body, error) in [
        (
            json!({"email": "weak@example.com", "password": "password1"}),
            "weak_password",
        ),
        (
            json!({"email": "weak@example.com", "password": "short"}),
            "weak_password",
        ),
        (
            json!({"email": "weak@example.com", "password": "weak@example.com"}),
            "weak_password",
        ),
        (
            json!({"email": "weak@example.com", "password": "x".repeat(10_000)}),
            "weak_password",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "invalid_email",
        ),
        (
            json!({"email": format!("{}@example.com", "a".repeat(300)), "password": PASSWORD}),
            "invalid_email",
        ),
        (
            json!({"email": "weak@example.com", "password": PASSWORD, "phone": "555-0123"}),
            "invalid_phone",
        ),
    ] {
        let r = app.post("/v1/accounts", body).await;
        assert_problem(r, 400, error).await;
    }
    assert_problem(
        app.login("weak@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert!(
        app.next_mail_within(2).await.is_none(),
        "no mail for refused sign-ups"
    );
}

#[tokio::test]
async fn wrong_codes_count_and_kill_the_code_after_five() {
    let mut app = spawn_app().await;
    app.sign_up("codes@example.com").await;
    let code = app.next_mail().await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = app
            .post(
                "/v1/accounts/verify",
                json!({"email": "codes@example.com", "channel": "email", "code": wrong}),
            )
            .await;
        assert_problem(r, 400, "invalid_code").await;
    }
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "codes@example.com", "channel": "email", "code": code}),
        )
        .await;
    assert_problem(r, 400, "invalid_code").await;
}

#[tokio::test]
async fn verify_says_nothing_about_unknown_accounts() {
    let app = spawn_app().await;
    for body in [
        json!({"email": "nobody@example.com", "channel": "email", "code": "123456"}),
        json!({"email": "not an email", "channel": "email", "code": "123456"}),
        json!({"email": "nobody@example.com", "channel": "sms", "code": "12345x"}),
    ] {
        assert_problem(
            app.post("/v1/accounts/verify", body).await,
            400,
            "invalid_code",
        )
        .await;
    }
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "a@example.com", "channel": "fax", "code": "123456"}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let mut app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    app.sign_up("late@example.com").await;
    // the manual clock stands still, so the worker sends at once but the code ages only on demand
    let code = app.next_mail().await.code();
    app.advance(time::Duration::minutes(10));
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "late@example.com", "channel": "email", "code": code}),
        )
        .await;
    assert_problem(r, 400, "invalid_code").await;
}
