//! What a stolen session, a pre-hijacker and a racer can get: each test here is an attack that
//! must come to nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

/// A password step-up for `action` on the session of `access` (an account without MFA).
async fn password_step_up(app: &TestApp, access: &str, action: &str) {
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            access,
            Some(json!({"action": action})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let begin: Value = r.json().await.unwrap();
    assert_eq!(begin["satisfied"], false, "{begin}");
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            access,
            Some(json!({"challenge_token": begin["challenge_token"], "type": "password", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn refreshed_access(app: &TestApp, tokens: &Value) -> String {
    let r = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_stale_session_cannot_plant_a_first_factor_without_a_step_up() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let tokens = app.signed_in("owner@example.com").await;
    app.advance(Duration::seconds(301));
    // the thief's fresh access token from the stolen refresh token: the session is as old
    let access = refreshed_access(&app, &tokens).await;
    for path in ["/v1/me/mfa/totp", "/v1/me/mfa/email"] {
        let r = app.send_auth(Method::POST, path, &access, None).await;
        let www = r.headers().get("www-authenticate").cloned();
        let body = assert_problem(r, 401, "insufficient_user_authentication").await;
        assert_eq!(body["action"], "mfa.manage");
        assert!(www
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_user_authentication"));
    }
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/webauthn",
            &access,
            Some(json!({})),
        )
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    // the owner, who knows the password, steps up and goes on
    password_step_up(&app, &access, "mfa.manage").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &access, None)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_stale_session_cannot_make_an_api_key_without_a_step_up() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let tokens = app.signed_in("keys@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let make = || {
        app.send_auth(
            Method::POST,
            "/v1/me/api-keys",
            &access,
            Some(json!({"name": "ci"})),
        )
    };
    // right after the password: fine
    assert_eq!(make().await.status(), 201);
    app.advance(Duration::seconds(301));
    let body = assert_problem(make().await, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "api_key.create");
    password_step_up(&app, &access, "api_key.create").await;
    assert_eq!(make().await.status(), 201);
    app.advance(Duration::seconds(301));
    assert_problem(make().await, 401, "insufficient_user_authentication").await;
    // a step-up for anything is a recent check of this session
    password_step_up(&app, &access, "billing.refund").await;
    assert_eq!(make().await.status(), 201);
}

#[tokio::test]
async fn an_unverified_account_can_add_neither_factors_nor_keys() {
    let app = spawn_app().await;
    let tokens = app.signed_in_unverified("squatter@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    for (path, body) in [
        ("/v1/me/mfa/totp", None),
        ("/v1/me/mfa/email", None),
        ("/v1/me/mfa/webauthn", Some(json!({}))),
        ("/v1/me/api-keys", Some(json!({"name": "k"}))),
    ] {
        let r = app.send_auth(Method::POST, path, access, body).await;
        assert_problem(r, 403, "email_unverified").await;
    }
}

#[tokio::test]
async fn the_owner_claims_a_squatted_address_by_a_password_reset() {
    let mut app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let email = "claimed@example.com";
    // someone who does not own the mailbox signs up with it and stays signed in
    let squatter = app.signed_in_unverified(email).await;
    let _their_code = app.next_mail().await;
    let squatter_access = squatter["access_token"].as_str().unwrap();
    // and has a password reset of their own under way
    assert_eq!(
        app.post("/v1/password-reset", json!({"email": email}))
            .await
            .status(),
        202
    );
    let squatter_code = app.next_mail().await.code();
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": email, "code": squatter_code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let squatter_reset: Value = r.json().await.unwrap();

    // the owner resets the password from the mailbox (a minute later: codes are not resent
    // sooner)
    app.advance(Duration::seconds(61));
    assert_eq!(
        app.post("/v1/password-reset", json!({"email": email}))
            .await
            .status(),
        202
    );
    let code = app.next_mail().await.code();
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let reset: Value = r.json().await.unwrap();
    let new_password = "a new and private passphrase 42";
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset["reset_token"], "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());

    // the squatter's session and pending reset are gone
    let r = app.get_auth("/v1/me", squatter_access).await;
    assert_problem(r, 401, "invalid_token").await;
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": squatter_reset["reset_token"], "new_password": "squatter owns this one 99"}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    // the address is proven now
    let r = app.login(email, new_password).await;
    let tokens: Value = r.json().await.unwrap();
    let me: Value = app
        .get_auth("/v1/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true, "{me}");
}
