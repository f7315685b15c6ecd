use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn login_issues_tokens_with_every_claim() {
    let app = spawn_app().await;
    let account = app.sign_up("claims@example.com").await;
    let r = app.login("claims@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], false);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt_"));
    let claims = verified_claims(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], account["id"]);
    assert_eq!(claims["iss"], "http://deadbolt.test");
    assert_eq!(claims["aud"], "http://deadbolt.test");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["auth_time"], claims["iat"]);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "aal1");
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(claims["sid"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    app.sign_up("known@example.com").await;
    let before = app
        .metric("deadbolt_password_verifications_total", &[])
        .await;
    let wrong = assert_problem(
        app.login("known@example.com", "not the password at all")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_problem(
        app.login("unknown@example.com", "not the password at all")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let malformed = assert_problem(
        app.login("not an email", "x").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);
    // each one ran an Argon2 verification: the unknown ones against the dummy hash
    let after = app
        .metric("deadbolt_password_verifications_total", &[])
        .await;
    assert_eq!(after - before, 3.0);
}

#[tokio::test]
async fn failures_per_email_are_throttled_known_or_not() {
    let app = spawn_app_with(Options::default(), |c| {
        c.limits.login_failures_per_account = 3
    })
    .await;
    app.sign_up("victim@example.com").await;
    for email in ["victim@example.com", "ghost@example.com"] {
        for _ in 0..3 {
            assert_eq!(app.login(email, "wrong wrong wrong").await.status(), 401);
        }
        // closed, even for the right password
        let r = app.login(email, PASSWORD).await;
        let retry: i64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "Retry-After {retry}");
        let body = assert_problem(r, 429, "too_many_attempts").await;
        assert_eq!(body["retry_after"], retry);
    }
    // another email from the same address is not affected by the per-email limit
    app.sign_up("bystander@example.com").await;
    assert_eq!(
        app.login("bystander@example.com", PASSWORD).await.status(),
        200
    );
    assert_eq!(
        app.metric("deadbolt_logins_total", &["outcome=\"throttled\""])
            .await,
        2.0
    );
}

#[tokio::test]
async fn failures_per_client_address_are_throttled() {
    let app = spawn_app_with(Options::default(), |c| c.limits.login_failures_per_ip = 4).await;
    app.sign_up("ip@example.com").await;
    for i in 0..4 {
        assert_eq!(
            app.login(&format!("spray{i}@example.com"), "guess guess guess")
                .await
                .status(),
            401
        );
    }
    assert_problem(
        app.login("ip@example.com", PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn the_throttle_window_reopens_and_success_resets_the_count() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |c| {
            c.limits.login_failures_per_account = 3;
            c.limits.login_window_seconds = 600;
        },
    )
    .await;
    app.sign_up("window@example.com").await;
    for _ in 0..2 {
        assert_eq!(
            app.login("window@example.com", "nope nope nope")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login("window@example.com", PASSWORD).await.status(),
        200
    );
    for _ in 0..2 {
        assert_eq!(
            app.login("window@example.com", "nope nope nope")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login("window@example.com", PASSWORD).await.status(),
        200,
        "a success started the count afresh"
    );
    for _ in 0..3 {
        assert_eq!(
            app.login("window@example.com", "nope nope nope")
                .await
                .status(),
            401
        );
    }
    let r = app.login("window@example.com", PASSWORD).await;
    assert_eq!(r.headers()["retry-after"], "600");
    assert_problem(r, 429, "too_many_attempts").await;
    app.advance(time::Duration::seconds(599));
    assert_eq!(
        app.login("window@example.com", PASSWORD).await.status(),
        429
    );
    app.advance(time::Duration::seconds(1));
    assert_eq!(
        app.login("window@example.com", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn a_saturated_hash_pool_answers_503_at_once() {
    let app = spawn_app_with(Options::default(), |c| {
        c.password.hash_threads = 1;
        c.password.hash_queue = 1;
        c.password.memory_kib = 32 * 1024;
        c.password.iterations = 3;
    })
    .await;
    app.sign_up("busy@example.com").await;
    let attempts = (0..16).map(|_| {
        let client = app.client.clone();
        let url = app.url("/v1/login");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": "busy@example.com", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
        })
    });
    let mut ok = 0;
    let mut busy = 0;
    for a in attempts.collect::<Vec<_>>() {
        let r = a.await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                assert_problem(r, 503, "overloaded").await;
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1, "some logins get through");
    assert!(
        busy >= 1,
        "the rest are refused, not queued: {ok} ok, {busy} busy"
    );
}

#[tokio::test]
async fn login_events_record_outcome_address_and_agent() {
    let app = spawn_app().await;
    app.sign_up("events@example.com").await;
    assert_eq!(
        app.login("events@example.com", "bad bad bad bad")
            .await
            .status(),
        401
    );
    let tokens: Value = app
        .login("events@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let events: Value = app
        .get_auth("/v1/me/events", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    let failed = items
        .iter()
        .find(|e| e["kind"] == "login_failed")
        .expect("login_failed event");
    assert_eq!(failed["detail"]["reason"], "wrong_password");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(failed["user_agent"], "deadbolt-tests/1.0");
    let ok = items
        .iter()
        .find(|e| e["kind"] == "login_succeeded")
        .expect("login_succeeded event");
    assert!(time::OffsetDateTime::parse(
        ok["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    let text = events.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("bad bad bad"),
        "no secrets in events"
    );
}
