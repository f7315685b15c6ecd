//! Step-up before sensitive actions, and the actions it guards.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

#[tokio::test]
async fn guarded_actions_answer_rfc_9470_until_stepped_up_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("guard@example.com").await;
    let recovery = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/recovery-codes",
            &user.access,
            None,
        )
        .await;
    assert_eq!(
        recovery.headers()["www-authenticate"],
        "Bearer error=\"insufficient_user_authentication\", error_description=\"a fresh second factor is required\""
    );
    let body = assert_problem(recovery, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "mfa.manage");

    let done = app
        .step_up_totp(&user.access, "mfa.manage", &user.secret)
        .await;
    assert_eq!(done["satisfied"], true);
    assert_eq!(done["action"], "mfa.manage");
    let claims = verified_step_up_claims(&app, done["step_up_token"].as_str().unwrap()).await;
    let access_claims = verified_claims(&app, &user.access).await;
    assert_eq!(claims["action"], "mfa.manage");
    assert_eq!(claims["sub"], access_claims["sub"]);
    assert_eq!(claims["sid"], access_claims["sid"]);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "aal2");
    assert!(claims["exp"].as_i64().unwrap() > claims["auth_time"].as_i64().unwrap());

    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/recovery-codes",
            &user.access,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let codes: Value = r.json().await.unwrap();
    assert_eq!(codes["codes"].as_array().unwrap().len(), 10);
    // one-shot: the next guarded call needs a new step-up
    let again = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/recovery-codes",
            &user.access,
            None,
        )
        .await;
    assert_problem(again, 401, "insufficient_user_authentication").await;
    // and the old codes died with the regeneration
    let t = app.mfa_token(&user.email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "recovery_code", "code": user.recovery_codes[0]}),
        )
        .await;
    assert_problem(r, 401, "invalid_code").await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "recovery_code", "code": codes["codes"][0]}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// Like `verified_claims`, for the step-up token (same keys, its own claims).
async fn verified_step_up_claims(app: &TestApp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("step-up+jwt"));
    verified_claims(app, token).await
}

#[tokio::test]
async fn a_windowed_action_stays_satisfied_for_its_window() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("window@example.com").await;
    app.step_up_totp(&user.access, "team.manage", &user.secret)
        .await;
    // step_up_totp moved the clock 30 s; the window is 300 s
    let check = || async {
        let r = app
            .send_auth(
                Method::POST,
                "/v1/step-up",
                &user.access,
                Some(json!({"action": "team.manage"})),
            )
            .await;
        r.json::<Value>().await.unwrap()
    };
    let open = check().await;
    assert_eq!(open["satisfied"], true);
    assert!(open["step_up_token"].is_string());
    // team.manage slides: each use (asking counts) buys another 300 s
    app.advance(Duration::seconds(200));
    assert_eq!(check().await["satisfied"], true);
    app.advance(Duration::seconds(200));
    assert_eq!(
        check().await["satisfied"],
        true,
        "400 s after the step-up, but 200 s after the last use"
    );
    app.advance(Duration::seconds(301));
    let closed = check().await;
    assert_eq!(closed["satisfied"], false);
    assert!(closed["challenge_token"].is_string());
    // an app's own action name works the same way; a malformed one is refused
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            &user.access,
            Some(json!({"action": "billing.refund"})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["satisfied"], false);
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            &user.access,
            Some(json!({"action": "Bad Action!"})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn configured_windows_are_fixed_or_sliding_but_never_loosen_password_change() {
    let app = spawn_app_with(manual(), |c| {
        use deadbolt_core::policy::ActionRule;
        c.step_up.insert(
            "billing.refund".into(),
            ActionRule {
                window_seconds: Some(100),
                sliding: false,
                methods: None,
            },
        );
        c.step_up.insert(
            "reports.export".into(),
            ActionRule {
                window_seconds: Some(100),
                sliding: true,
                methods: None,
            },
        );
        c.step_up.insert(
            "password.change".into(),
            ActionRule {
                window_seconds: Some(3600),
                sliding: true,
                methods: None,
            },
        );
    })
    .await;
    let user = app.enrolled("windows@example.com").await;
    let ask = |action: &'static str| {
        let app = &app;
        let access = user.access.clone();
        async move {
            let r = app
                .send_auth(
                    Method::POST,
                    "/v1/step-up",
                    &access,
                    Some(json!({"action": action})),
                )
                .await;
            r.json::<Value>().await.unwrap()
        }
    };
    app.step_up_totp(&user.access, "billing.refund", &user.secret)
        .await;
    app.step_up_totp(&user.access, "reports.export", &user.secret)
        .await;
    // 30 s after the second step-up, 60 s after the first
    app.advance(Duration::seconds(30));
    assert_eq!(ask("billing.refund").await["satisfied"], true);
    assert_eq!(
        ask("reports.export").await["satisfied"],
        true,
        "a use: the sliding window moves"
    );
    app.advance(Duration::seconds(60));
    assert_eq!(
        ask("billing.refund").await["satisfied"],
        false,
        "fixed: closed 100 s after the step-up"
    );
    assert_eq!(
        ask("reports.export").await["satisfied"],
        true,
        "sliding: 60 s since the last use"
    );
    app.advance(Duration::seconds(101));
    assert_eq!(ask("reports.export").await["satisfied"], false);

    // password.change stays one-shot whatever the configuration says
    app.step_up_totp(&user.access, "password.change", &user.secret)
        .await;
    let change = |to: &'static str, from: &'static str| json!({"current_password": from, "new_password": to});
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/password",
            &user.access,
            Some(change("first new passphrase 11", PASSWORD)),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/password",
            &user.access,
            Some(change(
                "second new passphrase 22",
                "first new passphrase 11",
            )),
        )
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
}

#[tokio::test]
async fn step_up_challenges_belong_to_their_session_and_count_failures() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("bound@example.com").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            &user.access,
            Some(json!({"action": "mfa.manage"})),
        )
        .await;
    let begin: Value = r.json().await.unwrap();
    assert_eq!(begin["methods"][0]["type"], "totp");
    let challenge = begin["challenge_token"].as_str().unwrap();
    // another session of the same account cannot use it
    let t = app.mfa_token(&user.email).await;
    let other: Value = app
        .verify_totp(&t, &app.code(&user.secret))
        .await
        .json()
        .await
        .unwrap();
    app.advance(Duration::seconds(30));
    let r = app
        .send_auth(Method::POST, "/v1/step-up/verify", other["access_token"].as_str().unwrap(), Some(json!({"challenge_token": challenge, "type": "totp", "code": app.code(&user.secret)})))
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    // wrong codes count down like a login's
    let wrong = if app.code(&user.secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            &user.access,
            Some(json!({"challenge_token": challenge, "type": "totp", "code": wrong})),
        )
        .await;
    assert_eq!(
        assert_problem(r, 401, "invalid_code").await["attempts_remaining"],
        4
    );
    // a password is no step-up for an account with a second factor
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            &user.access,
            Some(json!({"challenge_token": challenge, "type": "password", "password": PASSWORD})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    // the send step validates the token before saying that a TOTP method needs nothing sent
    let send = |token: &str| {
        let body = json!({"challenge_token": token, "method_id": user.method_id});
        let app = &app;
        let access = user.access.clone();
        async move {
            app.send_auth(Method::POST, "/v1/step-up/challenge", &access, Some(body))
                .await
        }
    };
    assert_problem(send("suc_garbage").await, 401, "mfa_token_invalid").await;
    assert_problem(send(challenge).await, 400, "invalid_request").await;
    // a login's mfa_token is not a step-up challenge
    let login_token = app.mfa_token(&user.email).await;
    let r = app
        .send_auth(Method::POST, "/v1/step-up/verify", &user.access, Some(json!({"challenge_token": login_token, "type": "totp", "code": app.code(&user.secret)})))
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    let r = app
        .send_auth(Method::POST, "/v1/step-up/verify", &user.access, Some(json!({"challenge_token": challenge, "type": "totp", "code": app.code(&user.secret)})))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn without_mfa_the_step_up_is_a_password_check_and_deletion_works() {
    let mut app = spawn_app().await;
    let tokens = app.signed_in("nomfa@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = app.send_auth(Method::DELETE, "/v1/me", access, None).await;
    assert_eq!(
        assert_problem(r, 401, "insufficient_user_authentication").await["action"],
        "account.delete"
    );
    let begin: Value = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            access,
            Some(json!({"action": "account.delete"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        begin["methods"],
        json!([{"id": null, "type": "password", "label": "Password", "hint": null, "primary": true}])
    );
    let challenge = begin["challenge_token"].as_str().unwrap();
    let r = app
        .send_auth(Method::POST, "/v1/step-up/verify", access, Some(json!({"challenge_token": challenge, "type": "password", "password": "not it at all"})))
        .await;
    assert_problem(r, 401, "invalid_code").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            access,
            Some(json!({"challenge_token": challenge, "type": "password", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let claims = verified_claims(
        &app,
        r.json::<Value>().await.unwrap()["step_up_token"]
            .as_str()
            .unwrap(),
    )
    .await;
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "aal1");
    while app.next_mail_within(1).await.is_some() {}
    assert_eq!(
        app.send_auth(Method::DELETE, "/v1/me", access, None)
            .await
            .status(),
        204
    );
    // passing over notices a loaded machine delivers late (the enrolment's, say)
    app.next_mail_titled("Your account was deleted").await;
    assert_problem(app.get_auth("/v1/me", access).await, 401, "invalid_token").await;
    assert_problem(
        app.login("nomfa@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    // the address is free again
    app.sign_up("nomfa@example.com").await;
}

#[tokio::test]
async fn password_change_needs_the_second_factor_and_signs_out_everything_else() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("pw@example.com").await;
    // a second session, and a trusted device
    let t = app.mfa_token(&user.email).await;
    let r = app.post("/v1/login/mfa/verify", json!({"mfa_token": t, "type": "totp", "code": app.code(&user.secret), "trust_device": true})).await;
    let other: Value = r.json().await.unwrap();
    app.advance(Duration::seconds(30));
    let change =
        json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 2026"});
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/password",
            &user.access,
            Some(change.clone()),
        )
        .await;
    assert_eq!(
        assert_problem(r, 401, "insufficient_user_authentication").await["action"],
        "password.change"
    );
    // wrong current password, or a weak new one, are refused before the step-up is spent
    let bad = json!({"current_password": "wrong wrong wrong", "new_password": "a brand new passphrase 2026"});
    assert_problem(
        app.send_auth(Method::POST, "/v1/me/password", &user.access, Some(bad))
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    app.step_up_totp(&user.access, "password.change", &user.secret)
        .await;
    let weak = json!({"current_password": PASSWORD, "new_password": "password"});
    assert_problem(
        app.send_auth(Method::POST, "/v1/me/password", &user.access, Some(weak))
            .await,
        400,
        "weak_password",
    )
    .await;
    while app.next_mail_within(1).await.is_some() {}
    assert_eq!(
        app.send_auth(Method::POST, "/v1/me/password", &user.access, Some(change))
            .await
            .status(),
        204
    );
    // passing over notices a loaded machine delivers late (the enrolment's, say)
    app.next_mail_titled("Your password was changed").await;

    assert_eq!(
        app.get_auth("/v1/me", &user.access).await.status(),
        200,
        "this session stays"
    );
    assert_problem(
        app.get_auth("/v1/me", other["access_token"].as_str().unwrap())
            .await,
        401,
        "invalid_token",
    )
    .await;
    let devices: Value = app
        .get_auth("/v1/me/devices", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(devices["items"], json!([]), "trusted devices revoked");
    let r = app.post("/v1/login", json!({"email": user.email, "password": PASSWORD, "device_token": other["device_token"]})).await;
    assert_problem(r, 401, "invalid_credentials").await;
    let r = app.post("/v1/login", json!({"email": user.email, "password": "a brand new passphrase 2026", "device_token": other["device_token"]})).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["mfa_required"],
        true,
        "the device no longer skips MFA"
    );
}

#[tokio::test]
async fn managing_methods_needs_a_step_up_while_mfa_is_on() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("manage@example.com").await;
    // adding a second authenticator
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &user.access, None)
        .await;
    assert_eq!(
        assert_problem(r, 401, "insufficient_user_authentication").await["action"],
        "mfa.manage"
    );
    app.step_up_totp(&user.access, "mfa.manage", &user.secret)
        .await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/totp",
            &user.access,
            Some(json!({"label": "Backup phone"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    let second_secret = second["secret"].as_str().unwrap();
    let second_id = second["method_id"].as_str().unwrap();
    let r = app
        .send_auth(
            Method::POST,
            &format!("/v1/me/mfa/{second_id}/confirm"),
            &user.access,
            Some(json!({"code": app.code(second_secret)})),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert!(
        body.get("recovery_codes").is_none(),
        "MFA was already on: no new codes"
    );
    // the primary moves
    let r = app
        .send_auth(
            Method::PUT,
            "/v1/me/mfa/primary",
            &user.access,
            Some(json!({"method_id": second_id})),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.advance(Duration::seconds(30));
    let login: Value = app.login(&user.email, PASSWORD).await.json().await.unwrap();
    assert_eq!(login["methods"][0]["id"], second_id);
    let r = app
        .send_auth(
            Method::PUT,
            "/v1/me/mfa/primary",
            &user.access,
            Some(json!({"method_id": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;

    // removing one needs a step-up each time; removing the last turns MFA off
    let r = app
        .send_auth(
            Method::DELETE,
            &format!("/v1/me/mfa/{second_id}"),
            &user.access,
            None,
        )
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    app.step_up_with(
        &user.access,
        "mfa.manage",
        &user.secret,
        Some(&user.method_id),
    )
    .await;
    assert_eq!(
        app.send_auth(
            Method::DELETE,
            &format!("/v1/me/mfa/{second_id}"),
            &user.access,
            None
        )
        .await
        .status(),
        204
    );
    let login: Value = app.login(&user.email, PASSWORD).await.json().await.unwrap();
    assert_eq!(
        login["methods"][0]["id"],
        user.method_id.as_str(),
        "the remaining method became primary"
    );
    app.step_up_with(
        &user.access,
        "mfa.manage",
        &user.secret,
        Some(&user.method_id),
    )
    .await;
    while app.next_mail_within(1).await.is_some() {}
    let path = format!("/v1/me/mfa/{}", user.method_id);
    assert_eq!(
        app.send_auth(Method::DELETE, &path, &user.access, None)
            .await
            .status(),
        204
    );
    let subjects = [app.next_mail().await.subject, app.next_mail().await.subject];
    assert!(
        subjects.contains(&"Two-step sign-in is off".to_owned()),
        "{subjects:?}"
    );
    let overview: Value = app
        .get_auth("/v1/me/mfa", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        overview,
        json!({"enabled": false, "primary_method_id": null, "methods": [], "recovery_codes_remaining": 0})
    );
    assert_eq!(
        app.login(&user.email, PASSWORD)
            .await
            .json::<Value>()
            .await
            .unwrap()["mfa_required"],
        false
    );
    assert_problem(
        app.send_auth(Method::DELETE, &path, &user.access, None)
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn disabling_mfa_needs_a_step_up_and_forgets_devices() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("disable@example.com").await;
    let t = app.mfa_token(&user.email).await;
    let r = app.post("/v1/login/mfa/verify", json!({"mfa_token": t, "type": "totp", "code": app.code(&user.secret), "trust_device": true})).await;
    assert!(r.json::<Value>().await.unwrap()["device_token"].is_string());
    app.advance(Duration::seconds(30));
    assert_problem(
        app.send_auth(Method::POST, "/v1/me/mfa/disable", &user.access, None)
            .await,
        401,
        "insufficient_user_authentication",
    )
    .await;
    app.step_up_with(
        &user.access,
        "mfa.manage",
        &user.secret,
        Some(&user.method_id),
    )
    .await;
    assert_eq!(
        app.send_auth(
            Method::POST,
            "/v1/me/mfa/disable",
            &user.access,
            Some(json!({}))
        )
        .await
        .status(),
        204
    );
    let overview: Value = app
        .get_auth("/v1/me/mfa", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["enabled"], false);
    assert_eq!(overview["recovery_codes_remaining"], 0);
    let devices: Value = app
        .get_auth("/v1/me/devices", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(devices["items"], json!([]));
    assert_eq!(
        app.login(&user.email, PASSWORD)
            .await
            .json::<Value>()
            .await
            .unwrap()["mfa_required"],
        false
    );
}

#[tokio::test]
async fn deleting_an_account_with_mfa_needs_its_second_factor() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("delete@example.com").await;
    assert_problem(
        app.send_auth(Method::DELETE, "/v1/me", &user.access, None)
            .await,
        401,
        "insufficient_user_authentication",
    )
    .await;
    app.step_up_totp(&user.access, "account.delete", &user.secret)
        .await;
    assert_eq!(
        app.send_auth(Method::DELETE, "/v1/me", &user.access, None)
            .await
            .status(),
        204
    );
    assert_problem(
        app.login(&user.email, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    // everything that belonged to it is gone; the events stay, without secrets
    let store = deadbolt_store::Store::open(&app.config.database.url, 2).unwrap();
    assert!(store.all_totp().await.unwrap().is_empty());
    let id: deadbolt_core::ids::AccountId = verified_claims(&app, &user.access).await["sub"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(store.methods_of(id).await.unwrap().is_empty());
    assert_eq!(store.recovery_codes_remaining(id).await.unwrap(), 0);
    let events = store.events_of(id, None, 100).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.kind == deadbolt_core::event::EventKind::AccountDeleted));
    let text = format!("{events:?}");
    assert!(!text.contains(&user.secret) && !text.contains(PASSWORD));
}

#[tokio::test]
async fn a_step_up_token_is_not_an_access_token() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("notaccess@example.com").await;
    let done = app
        .step_up_totp(&user.access, "billing.refund", &user.secret)
        .await;
    let token = done["step_up_token"].as_str().unwrap();
    assert_problem(app.get_auth("/v1/me", token).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled() {
    let app = spawn_app_with(Options::default(), |c| c.lockout.account_max_failures = 3).await;
    let tokens = app.signed_in("oracle@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let guess = json!({"current_password": "guess guess guess", "new_password": "a brand new passphrase 2026"});
    for _ in 0..3 {
        let r = app
            .send_auth(Method::POST, "/v1/me/password", access, Some(guess.clone()))
            .await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    let right =
        json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 2026"});
    let r = app
        .send_auth(Method::POST, "/v1/me/password", access, Some(right))
        .await;
    assert_problem(r, 429, "mfa_locked").await;
}
