//! Hostile input: every malformed request gets a 4xx problem, never a 500 or a panic.

use crate::helpers::*;
use serde_json::json;

async fn raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn malformed_bodies_are_invalid_requests() {
    let app = spawn_app().await;
    let json_ct = Some("application/json");
    for path in [
        "/v1/accounts",
        "/v1/accounts/verify",
        "/v1/login",
        "/v1/token/refresh",
    ] {
        for (ct, body) in [
            (json_ct, b"{".to_vec()),
            (json_ct, b"".to_vec()),
            (json_ct, b"null".to_vec()),
            (json_ct, b"[]".to_vec()),
            (json_ct, vec![0xff, 0xfe, 0x00]),
            (json_ct, br#"{"email": 5, "password": ["x"]}"#.to_vec()),
            (json_ct, br#"{"unexpected": true}"#.to_vec()),
            (
                None,
                br#"{"email":"a@example.com","password":"x"}"#.to_vec(),
            ),
            (
                Some("text/plain"),
                br#"{"email":"a@example.com","password":"x"}"#.to_vec(),
            ),
        ] {
            let r = raw(&app, path, ct, body.clone()).await;
            assert_problem(r, 400, "invalid_request").await;
        }
    }
}

#[tokio::test]
async fn unknown_fields_are_rejected_not_dropped() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "extra@example.com", "password": PASSWORD, "roles": ["admin"]}),
        )
        .await;
    let body = assert_problem(r, 400, "invalid_request").await;
    assert!(body["detail"].as_str().unwrap().contains("roles"));
    // and nothing was created
    assert_eq!(app.login("extra@example.com", PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let huge = json!({"email": "big@example.com", "password": "p".repeat(100 * 1024)});
    let r = app.post("/v1/accounts", huge).await;
    assert_problem(r, 413, "payload_too_large").await;
}

#[tokio::test]
async fn odd_but_valid_json_is_handled() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/login",
            json!({"email": "\u{0000}@\u{202e}.com", "password": "\u{1F600}".repeat(300)}),
        )
        .await;
    assert_problem(r, 401, "invalid_credentials").await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "ünï@exämple.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(r, 400, "invalid_email").await;
    let r = raw(
        &app,
        "/v1/login",
        Some("application/json; charset=utf-8"),
        br#"{"email":"a@example.com","password":"x"}"#.to_vec(),
    )
    .await;
    assert_problem(r, 401, "invalid_credentials").await;
}
