//! The administrators' endpoints: accounts (SSO ones included), MFA reset, unlock, all events.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

#[tokio::test]
async fn admins_create_and_find_accounts_and_sso_accounts_have_no_password_login() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let (admin, _) = admin_signed_in(&app, "root@example.com").await;
    while app.next_mail_within(1).await.is_some() {}
    let r = app
        .send_auth(
            Method::POST,
            "/v1/admin/accounts",
            &admin,
            Some(json!({"email": "made@example.com", "password": PASSWORD, "email_verified": true, "roles": ["support"]})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["email_verified"], true);
    assert_eq!(made["roles"], json!(["support"]));
    assert_eq!(app.login("made@example.com", PASSWORD).await.status(), 200);

    let r = app
        .send_auth(
            Method::POST,
            "/v1/admin/accounts",
            &admin,
            Some(
                json!({"email": "sso@example.com", "sso_provider": "okta", "email_verified": true}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["sso_provider"], "okta");
    let r = app.login("sso@example.com", "anything at all here").await;
    assert_problem(r, 401, "sso_required").await;
    // nor can a password be set through a reset
    let r = app
        .post("/v1/password-reset", json!({"email": "sso@example.com"}))
        .await;
    assert_eq!(r.status(), 202);
    while let Some(mail) = app.next_mail_within(2).await {
        // notices of the admin's own sign-in may still be on their way
        assert!(
            mail.to != ["sso@example.com"],
            "no reset code for an SSO account: {mail:?}"
        );
    }
    let r = app
        .send_auth(
            Method::POST,
            "/v1/admin/accounts",
            &admin,
            Some(
                json!({"email": "both@example.com", "sso_provider": "okta", "password": PASSWORD}),
            ),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/admin/accounts",
            &admin,
            Some(json!({"email": "made@example.com"})),
        )
        .await;
    assert_problem(r, 409, "email_taken").await;

    let found: Value = app
        .get_auth("/v1/admin/accounts?email=MADE@example.com", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], made["id"]);
    let none: Value = app
        .get_auth("/v1/admin/accounts?email=nobody@example.com", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]));

    // not for users, even with the right password
    let user = app.signed_in("user@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/v1/admin/accounts?email=made@example.com",
        "/v1/admin/events",
    ] {
        assert_problem(app.get_auth(path, &user).await, 403, "forbidden").await;
    }
}

#[tokio::test]
async fn an_mfa_reset_needs_the_admins_step_up_and_tells_the_user() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("locked-out@example.com").await;
    let (admin, admin_secret) = admin_signed_in(&app, "root@example.com").await;
    while app.next_mail_within(1).await.is_some() {}
    let me: Value = app
        .get_auth("/v1/me", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/v1/admin/accounts/{}/mfa/reset",
        me["id"].as_str().unwrap()
    );
    let r = app.send_auth(Method::POST, &path, &admin, None).await;
    let body = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "admin.mfa_reset");
    let target = me["id"].as_str().unwrap();
    assert_eq!(body["target"], target);
    app.advance(Duration::seconds(30));
    // a step-up that names no account serves none
    app.step_up_totp(&admin, "admin.mfa_reset", &admin_secret)
        .await;
    let r = app.send_auth(Method::POST, &path, &admin, None).await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    app.step_up_totp_on(&admin, "admin.mfa_reset", Some(target), &admin_secret, None)
        .await;
    let r = app.send_auth(Method::POST, &path, &admin, None).await;
    assert_eq!(r.status(), 204);
    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["locked-out@example.com"]);
    assert_eq!(mail.subject, "Two-step sign-in was reset");
    // the user's sessions ended with the reset: signing in again needs only the password
    assert_problem(
        app.get_auth("/v1/me", &user.access).await,
        401,
        "invalid_token",
    )
    .await;
    let again: Value = app
        .login("locked-out@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["mfa_required"], false);
    let mfa: Value = app
        .get_auth("/v1/me/mfa", again["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mfa["enabled"], false);
    assert_eq!(mfa["recovery_codes_remaining"], 0);
    // one-shot: the next reset needs another step-up
    let r = app.send_auth(Method::POST, &path, &admin, None).await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    let unknown = format!("/v1/admin/accounts/{}/mfa/reset", uuid::Uuid::new_v4());
    let r = app.send_auth(Method::POST, &unknown, &admin, None).await;
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn an_unlock_lifts_the_login_lockout_and_admins_see_every_event() {
    let mut app = spawn_app_with(manual(), |c| c.limits.login_failures_per_account = 3).await;
    let (admin, _) = admin_signed_in(&app, "root@example.com").await;
    app.sign_up("forgetful@example.com").await;
    app.next_mail_to("forgetful@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("forgetful@example.com", "not the password at all")
                .await
                .status(),
            401
        );
    }
    assert_problem(
        app.login("forgetful@example.com", PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
    let found: Value = app
        .get_auth("/v1/admin/accounts?email=forgetful@example.com", &admin)
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/v1/admin/accounts/{}/unlock",
        found["items"][0]["id"].as_str().unwrap()
    );
    assert_eq!(
        app.send_auth(Method::POST, &path, &admin, None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.login("forgetful@example.com", PASSWORD).await.status(),
        200
    );
    let told = app.next_mail_to("forgetful@example.com").await;
    assert_eq!(told.subject, "Your account was unlocked");

    let page: Value = app
        .get_auth("/v1/admin/events?limit=2", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let all: Value = app
        .get_auth(
            &format!("/v1/admin/events?limit=100&cursor={cursor}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let every: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(all["items"].as_array().unwrap())
        .collect();
    let ids: std::collections::HashSet<&str> =
        every.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), every.len(), "pages do not overlap");
    let kinds: Vec<&str> = every.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"account_unlocked"), "{kinds:?}");
    assert!(kinds.contains(&"login_throttled"), "{kinds:?}");
    let accounts: std::collections::HashSet<&str> = every
        .iter()
        .filter_map(|e| e["account_id"].as_str())
        .collect();
    assert!(accounts.len() >= 2, "events of every account");
}

#[tokio::test]
async fn where_policy_requires_mfa_a_login_without_one_may_only_enroll() {
    let app = spawn_app_with(manual(), |c| c.mfa.enforcement = "required".into()).await;
    app.sign_up("must@example.com").await;
    app.mark_email_verified("must@example.com").await;
    let r = app.login("must@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["mfa_required"], false);
    assert_eq!(first["enrollment_required"], true);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.get_auth("/v1/me", access).await.status(), 200);
    assert_eq!(app.get_auth("/v1/me/mfa", access).await.status(), 200);
    for r in [
        app.get_auth("/v1/me/sessions", access).await,
        app.send_auth(
            Method::POST,
            "/v1/me/api-keys",
            access,
            Some(json!({"name": "x"})),
        )
        .await,
    ] {
        assert_problem(r, 403, "mfa_enrollment_required").await;
    }
    // a step-up stays open to it: a session past its recent sign-in needs one to enrol
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            access,
            Some(json!({"action": "mfa.manage"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    // enrolment works, and the session stays restricted until the next sign-in
    let e: Value = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", access, None)
        .await
        .json()
        .await
        .unwrap();
    let secret = e["secret"].as_str().unwrap();
    let path = format!("/v1/me/mfa/{}/confirm", e["method_id"].as_str().unwrap());
    let r = app
        .send_auth(
            Method::POST,
            &path,
            access,
            Some(json!({"code": app.code(secret)})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_problem(
        app.get_auth("/v1/me/sessions", access).await,
        403,
        "mfa_enrollment_required",
    )
    .await;
    app.advance(Duration::seconds(30));
    let mfa_token = app.mfa_token("must@example.com").await;
    let r = app.verify_totp(&mfa_token, &app.code(secret)).await;
    let full: Value = r.json().await.unwrap();
    assert!(full.get("enrollment_required").is_none(), "{full}");
    let access = full["access_token"].as_str().unwrap();
    assert_eq!(app.get_auth("/v1/me/sessions", access).await.status(), 200);
    // and MFA cannot be switched off while policy requires it
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/disable", access, None)
        .await;
    assert_problem(r, 403, "policy_requires_mfa").await;
}

#[tokio::test]
async fn making_another_administrator_needs_a_fresh_step_up_each_time() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, secret) = admin_signed_in(&app, "root@example.com").await;
    let make = |email: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            app.send_auth(
                Method::POST,
                "/v1/admin/accounts",
                admin,
                Some(json!({"email": email, "password": PASSWORD, "roles": ["admin"]})),
            )
            .await
        }
    };
    let problem = assert_problem(
        make("second@example.com").await,
        401,
        "insufficient_user_authentication",
    )
    .await;
    assert_eq!(problem["action"], "admin.grant");
    // nothing was made
    let found: Value = app
        .get_auth("/v1/admin/accounts?email=second@example.com", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"], json!([]));

    app.advance(time::Duration::seconds(30));
    app.step_up_totp(&admin, "admin.grant", &secret).await;
    let r = make("second@example.com").await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["roles"], json!(["admin"]));
    // one step-up, one administrator
    assert_problem(
        make("third@example.com").await,
        401,
        "insufficient_user_authentication",
    )
    .await;
}
