//! Password reset and code resends.

use crate::helpers::*;
use serde_json::{json, Value};
use time::Duration;

/// Asks for a reset and returns the emailed code (passing over notices sent before it, which a
/// loaded machine may deliver late).
async fn reset_code(app: &mut TestApp, email: &str) -> String {
    while app.next_mail_within(1).await.is_some() {}
    assert_eq!(
        app.post("/v1/password-reset", json!({"email": email}))
            .await
            .status(),
        202
    );
    loop {
        let mail = app.next_mail().await;
        if mail.subject == "Reset your password" {
            assert_eq!(mail.to, [email]);
            return mail.code();
        }
    }
}

#[tokio::test]
async fn reset_without_mfa_sets_the_password_and_ends_every_session() {
    let mut app = spawn_app().await;
    let tokens = verified_account(&mut app, "reset@example.com").await;
    let code = reset_code(&mut app, "reset@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "reset@example.com", "code": wrong}),
        )
        .await;
    assert_problem(r, 400, "invalid_code").await;
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "reset@example.com", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["mfa_required"], false);
    assert_eq!(started["methods"], json!([]));
    let reset_token = started["reset_token"].as_str().unwrap();
    // the code works once; the reset token is good for nothing else
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "reset@example.com", "code": code}),
        )
        .await;
    assert_problem(r, 400, "invalid_code").await;
    assert_problem(
        app.get_auth("/v1/me", reset_token).await,
        401,
        "invalid_token",
    )
    .await;
    let weak = json!({"reset_token": reset_token, "new_password": "password"});
    assert_problem(
        app.post("/v1/password-reset/complete", weak).await,
        400,
        "weak_password",
    )
    .await;
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset_token, "new_password": "a fresh start 4 me"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    // passing over notices a loaded machine delivers late (the enrolment's, say)
    app.next_mail_titled("Your password was changed").await;
    assert_problem(
        app.get_auth("/v1/me", tokens["access_token"].as_str().unwrap())
            .await,
        401,
        "invalid_token",
    )
    .await;
    assert_problem(
        app.login("reset@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login("reset@example.com", "a fresh start 4 me")
            .await
            .status(),
        200
    );
    // spent
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset_token, "new_password": "another fresh start 5"}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
}

#[tokio::test]
async fn a_reset_never_skips_the_second_factor() {
    let mut app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let tokens = app.signed_in("mfareset@example.com").await;
    let code = app.next_mail().await.code();
    app.post(
        "/v1/accounts/verify",
        json!({"email": "mfareset@example.com", "channel": "email", "code": code}),
    )
    .await;
    // enroll on the same account
    let access = tokens["access_token"].as_str().unwrap();
    let r = app
        .send_auth(reqwest::Method::POST, "/v1/me/mfa/totp", access, None)
        .await;
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_owned();
    let r = app
        .send_auth(
            reqwest::Method::POST,
            &format!("/v1/me/mfa/{}/confirm", e["method_id"].as_str().unwrap()),
            access,
            Some(json!({"code": app.code(&secret)})),
        )
        .await;
    let recovery = r.json::<Value>().await.unwrap()["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(Duration::seconds(30));

    let code = reset_code(&mut app, "mfareset@example.com").await;
    let started: Value = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "mfareset@example.com", "code": code}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(started["mfa_required"], true);
    assert_eq!(started["methods"][0]["type"], "totp");
    let token = started["reset_token"].as_str().unwrap();
    let method = &started["methods"][0]["id"];
    let r = app
        .post(
            "/v1/password-reset/challenge",
            json!({"reset_token": "suc_garbage", "method_id": method}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    let r = app
        .post(
            "/v1/password-reset/challenge",
            json!({"reset_token": token, "method_id": method}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let new_password = "through the front door 7";
    // skipping the factor, or passing the emailed code as one, is refused
    let skip = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": token, "new_password": new_password}),
        )
        .await;
    assert_problem(skip, 400, "invalid_request").await;
    let email_as_factor = app.post("/v1/password-reset/complete", json!({"reset_token": token, "new_password": new_password, "type": "email", "code": code})).await;
    assert_problem(email_as_factor, 400, "invalid_request").await;
    let wrong = app.post("/v1/password-reset/complete", json!({"reset_token": token, "new_password": new_password, "type": "totp", "code": "000000"})).await;
    let body = assert_problem(wrong, 401, "invalid_code").await;
    assert_eq!(body["attempts_remaining"], 4);
    assert_problem(
        app.login("mfareset@example.com", new_password).await,
        401,
        "invalid_credentials",
    )
    .await;
    // a recovery code serves
    let r = app.post("/v1/password-reset/complete", json!({"reset_token": token, "new_password": new_password, "type": "recovery_code", "code": recovery})).await;
    assert_eq!(r.status(), 204);
    let login: Value = app
        .login("mfareset@example.com", new_password)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["mfa_required"], true, "MFA stays on after a reset");
}

#[tokio::test]
async fn resets_and_resends_say_the_same_for_everyone_and_are_throttled() {
    let mut app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    app.sign_up("resend@example.com").await;
    let first = app.next_mail().await.code();
    // (an unverified address does get a reset code: that is how its owner claims it; see
    // hardening::the_owner_claims_a_squatted_address_by_a_password_reset)
    for body in [
        json!({"email": "nobody@example.com"}),
        json!({"email": "not an email"}),
    ] {
        assert_eq!(app.post("/v1/password-reset", body).await.status(), 202);
    }
    assert!(
        app.next_mail_within(2).await.is_none(),
        "no reset mail for unknown addresses"
    );
    assert_eq!(resend(&app, "nobody@example.com").await, 202);
    assert_eq!(resend(&app, "resend@example.com").await, 202);
    assert!(
        app.next_mail_within(2).await.is_none(),
        "too soon after the sign-up code"
    );
    app.advance(Duration::seconds(60));
    assert_eq!(resend(&app, "resend@example.com").await, 202);
    let second = app.next_mail().await.code();
    // the new code supersedes the old
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "resend@example.com", "channel": "email", "code": first}),
        )
        .await;
    if first != second {
        assert_problem(r, 400, "invalid_code").await;
    }
    // hourly cap per destination: 5 codes
    for _ in 0..3 {
        app.advance(Duration::seconds(61));
        assert_eq!(resend(&app, "resend@example.com").await, 202);
        app.next_mail().await;
    }
    app.advance(Duration::seconds(61));
    assert_eq!(resend(&app, "resend@example.com").await, 202);
    assert!(
        app.next_mail_within(2).await.is_none(),
        "capped at 5 an hour"
    );
    app.advance(Duration::minutes(60));
    assert_eq!(resend(&app, "resend@example.com").await, 202);
    let last = app.next_mail().await.code();
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "resend@example.com", "channel": "email", "code": last}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // verified: nothing more to send
    app.advance(Duration::seconds(61));
    assert_eq!(resend(&app, "resend@example.com").await, 202);
    assert!(app.next_mail_within(2).await.is_none());
}

async fn resend(app: &TestApp, email: &str) -> reqwest::StatusCode {
    app.post(
        "/v1/accounts/verify/resend",
        json!({"email": email, "channel": "email"}),
    )
    .await
    .status()
}
