use crate::helpers::*;
use serde_json::{json, Value};

fn token(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let app = spawn_app().await;
    let first = app.signed_in("rotate@example.com").await;
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&first, "refresh_token")}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        app.get_auth("/v1/me", &token(&second, "access_token"))
            .await
            .status(),
        200
    );
    let claims1 = verified_claims(&app, &token(&first, "access_token")).await;
    let claims2 = verified_claims(&app, &token(&second, "access_token")).await;
    assert_eq!(claims1["sid"], claims2["sid"], "same session");
    assert_eq!(
        claims1["auth_time"], claims2["auth_time"],
        "refresh is not a new sign-in"
    );

    // the first refresh token again: someone kept a copy
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&first, "refresh_token")}),
        )
        .await;
    let r_header = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(r_header, "Bearer error=\"invalid_token\"");
    assert_problem(r, 401, "invalid_token").await;
    // the whole session is gone: its newest tokens too
    assert_problem(
        app.get_auth("/v1/me", &token(&second, "access_token"))
            .await,
        401,
        "invalid_token",
    )
    .await;
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&second, "refresh_token")}),
        )
        .await;
    assert_problem(r, 401, "invalid_token").await;

    let fresh = app
        .login("rotate@example.com", PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let events: Value = app
        .get_auth("/v1/me/events", &token(&fresh, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert!(events["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "refresh_token_reused"));
}

#[tokio::test]
async fn racing_refreshes_of_one_token_succeed_at_most_once() {
    let app = spawn_app().await;
    let tokens = app.signed_in("race@example.com").await;
    let refresh = token(&tokens, "refresh_token");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/v1/token/refresh");
            let body = json!({"refresh_token": refresh});
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn garbage_refresh_tokens_are_invalid() {
    let app = spawn_app().await;
    for t in [
        "",
        "rt_",
        "rt_doesnotexist",
        "eyJhbGciOiJub25lIn0.e30.",
        &"rt_x".repeat(500),
    ] {
        let r = app
            .post("/v1/token/refresh", json!({"refresh_token": t}))
            .await;
        assert_problem(r, 401, "invalid_token").await;
    }
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let tokens = app.signed_in("logout@example.com").await;
    let access = token(&tokens, "access_token");
    let r = app
        .client
        .post(app.url("/v1/logout"))
        .bearer_auth(&access)
        .json(&json!({"extra": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .client
        .post(app.url("/v1/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_problem(app.get_auth("/v1/me", &access).await, 401, "invalid_token").await;
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&tokens, "refresh_token")}),
        )
        .await;
    assert_problem(r, 401, "invalid_token").await;
    let r = app
        .client
        .post(app.url("/v1/logout"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn access_tokens_expire_and_idle_sessions_end() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let tokens = app.signed_in("idle@example.com").await;
    app.advance(time::Duration::minutes(14));
    assert_eq!(
        app.get_auth("/v1/me", &token(&tokens, "access_token"))
            .await
            .status(),
        200
    );
    app.advance(time::Duration::minutes(1));
    assert_problem(
        app.get_auth("/v1/me", &token(&tokens, "access_token"))
            .await,
        401,
        "invalid_token",
    )
    .await;
    // refreshing within the idle hour keeps the session alive
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&tokens, "refresh_token")}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let next: Value = r.json().await.unwrap();
    app.advance(time::Duration::minutes(60));
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&next, "refresh_token")}),
        )
        .await;
    assert_problem(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn sessions_end_after_24_hours_however_active() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let mut tokens = app.signed_in("absolute@example.com").await;
    for _ in 0..24 {
        app.advance(time::Duration::minutes(59) + time::Duration::seconds(59));
        let r = app
            .post(
                "/v1/token/refresh",
                json!({"refresh_token": token(&tokens, "refresh_token")}),
            )
            .await;
        assert_eq!(r.status(), 200);
        tokens = r.json().await.unwrap();
    }
    app.advance(time::Duration::minutes(2));
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&tokens, "refresh_token")}),
        )
        .await;
    assert_problem(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one() {
    let app = spawn_app().await;
    let a = app.signed_in("multi@example.com").await;
    let b: Value = app
        .login("multi@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let list: Value = app
        .get_auth("/v1/me/sessions", &token(&a, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let sid_a = verified_claims(&app, &token(&a, "access_token")).await["sid"].clone();
    let sid_b = verified_claims(&app, &token(&b, "access_token")).await["sid"].clone();
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], sid_a);
    assert_eq!(current[0]["user_agent"], "deadbolt-tests/1.0");
    assert_eq!(current[0]["acr"], "aal1");

    let del = |sid: &Value, access: String| {
        let url = app.url(&format!("/v1/me/sessions/{}", sid.as_str().unwrap_or("x")));
        let client = app.client.clone();
        async move { client.delete(url).bearer_auth(access).send().await.unwrap() }
    };
    assert_eq!(del(&sid_b, token(&a, "access_token")).await.status(), 204);
    assert_problem(
        app.get_auth("/v1/me", &token(&b, "access_token")).await,
        401,
        "invalid_token",
    )
    .await;
    assert_problem(
        del(&sid_b, token(&a, "access_token")).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        del(&json!("not-a-uuid"), token(&a, "access_token")).await,
        400,
        "invalid_request",
    )
    .await;

    // another account's session is not found, and stays alive
    let other = app.signed_in("other@example.com").await;
    let sid_other = verified_claims(&app, &token(&other, "access_token")).await["sid"].clone();
    assert_problem(
        del(&sid_other, token(&a, "access_token")).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.get_auth("/v1/me", &token(&other, "access_token"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn bad_bearer_tokens_are_refused() {
    let app = spawn_app().await;
    let tokens = app.signed_in("bearer@example.com").await;
    let access = token(&tokens, "access_token");
    let r = app.get("/v1/me").await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_problem(r, 401, "invalid_token").await;
    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    for bad in [tampered.as_str(), "garbage", "a.b.c", ""] {
        assert_problem(app.get_auth("/v1/me", bad).await, 401, "invalid_token").await;
    }
    // a token signed by another deadbolt's key
    let stranger = spawn_app().await;
    let foreign = stranger.signed_in("bearer@example.com").await;
    assert_problem(
        app.get_auth("/v1/me", &token(&foreign, "access_token"))
            .await,
        401,
        "invalid_token",
    )
    .await;
    // an unsigned token claiming the same subject
    let claims = verified_claims(&app, &access).await;
    let header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
    let forged = format!("{header}.{}.", base64_url(&claims.to_string()));
    assert_problem(app.get_auth("/v1/me", &forged).await, 401, "invalid_token").await;
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn me_and_paged_events() {
    let app = spawn_app().await;
    let account = app.sign_up("pages@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("pages@example.com", "wrong wrong wrong")
                .await
                .status(),
            401
        );
    }
    let tokens: Value = app
        .login("pages@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let access = token(&tokens, "access_token");
    let me: Value = app.get_auth("/v1/me", &access).await.json().await.unwrap();
    assert_eq!(me["id"], account["id"]);
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["mfa_enabled"], false);
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/me/events?limit=2&cursor={c}"),
            None => "/v1/me/events?limit=2".to_owned(),
        };
        let page: Value = app.get_auth(&path, &access).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        5,
        "account_created, 3 × login_failed, login_succeeded"
    );
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 5, "no event twice across pages");

    for bad in [
        "/v1/me/events?limit=0",
        "/v1/me/events?limit=101",
        "/v1/me/events?limit=x",
        "/v1/me/events?cursor=%%%",
        "/v1/me/events?cursor=bm9wZQ",
        "/v1/me/events?other=1",
    ] {
        assert_problem(app.get_auth(bad, &access).await, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn two_instances_share_one_database() {
    let first = spawn_app().await;
    // a second, identical instance on the same database and master key
    let second = {
        let mut config = first.config.clone();
        config.server.bind = "127.0.0.1:0".into();
        let app = deadbolt_server::Application::build(config).await.unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    };
    let tokens = first.signed_in("shared@example.com").await;
    let r = first
        .client
        .get(format!("{second}/v1/me"))
        .bearer_auth(token(&tokens, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the other instance accepts the token");
    let r = first
        .client
        .post(format!("{second}/v1/token/refresh"))
        .json(&json!({"refresh_token": token(&tokens, "refresh_token")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = first
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": token(&tokens, "refresh_token")}),
        )
        .await;
    assert_problem(r, 401, "invalid_token").await;
}
