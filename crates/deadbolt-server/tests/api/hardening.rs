//! What a stolen session, a pre-hijacker and a racer can get: each test here is an attack that
//! must come to nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

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
    let app = spawn_app_with(manual(), |_| {}).await;
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
    app.step_up_password(&access, "mfa.manage").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &access, None)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_stale_session_cannot_make_an_api_key_without_a_step_up() {
    let app = spawn_app_with(manual(), |_| {}).await;
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
    app.step_up_password(&access, "api_key.create").await;
    assert_eq!(make().await.status(), 201);
    app.advance(Duration::seconds(301));
    assert_problem(make().await, 401, "insufficient_user_authentication").await;
    // a step-up for anything is a recent check of this session
    app.step_up_password(&access, "billing.refund").await;
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
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let email = "claimed@example.com";
    // someone who does not own the mailbox signs up with it and stays signed in
    let squatter = app.signed_in_unverified(email).await;
    let _their_code = app.next_mail().await;
    let squatter_access = squatter["access_token"].as_str().unwrap();
    // a reset begun earlier and left pending
    let earlier_reset = app.reset_token(email).await;
    // the owner resets the password from the mailbox (a minute later: codes are not resent
    // sooner)
    app.advance(Duration::seconds(61));
    let reset = app.reset_token(email).await;
    let new_password = "a new and private passphrase 42";
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset["reset_token"], "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());

    // the squatter's session and the pending reset are gone
    let r = app.get_auth("/v1/me", squatter_access).await;
    assert_problem(r, 401, "invalid_token").await;
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": earlier_reset["reset_token"], "new_password": "squatter owns this one 99"}),
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

/// Signs in again with the password and TOTP: a second session's access token.
async fn second_session(app: &TestApp, user: &Enrolled) -> String {
    let mfa_token = app.mfa_token(&user.email).await;
    let r = app.verify_totp(&mfa_token, &app.code(&user.secret)).await;
    assert_eq!(r.status(), 200);
    app.advance(Duration::seconds(30));
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_parallel_removals_of_the_last_two_methods_turn_mfa_off_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("racer@example.com").await;
    // a second authenticator app
    app.step_up_totp(&user.access, "mfa.manage", &user.secret)
        .await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &user.access, None)
        .await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    let second_id = second["method_id"].as_str().unwrap().to_owned();
    let second_secret = second["secret"].as_str().unwrap().to_owned();
    let r = app
        .send_auth(
            Method::POST,
            &format!("/v1/me/mfa/{second_id}/confirm"),
            &user.access,
            Some(json!({"code": app.code(&second_secret)})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.advance(Duration::seconds(30));
    // two sessions, each stepped up, each removing one of the two methods at once
    let other = second_session(&app, &user).await;
    app.step_up_with(
        &user.access,
        "mfa.manage",
        &user.secret,
        Some(&user.method_id),
    )
    .await;
    app.step_up_with(&other, "mfa.manage", &user.secret, Some(&user.method_id))
        .await;
    let first_path = format!("/v1/me/mfa/{}", user.method_id);
    let second_path = format!("/v1/me/mfa/{second_id}");
    let (a, b) = tokio::join!(
        app.send_auth(Method::DELETE, &first_path, &user.access, None),
        app.send_auth(Method::DELETE, &second_path, &other, None),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (204, 204));
    let mfa: Value = app
        .get_auth("/v1/me/mfa", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mfa["enabled"], false, "{mfa}");
    assert_eq!(mfa["recovery_codes_remaining"], 0, "{mfa}");
    let kinds = app.event_kinds(&user.access).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "mfa_disabled").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_sliding_step_up_window_ends_an_hour_after_its_check() {
    let app = spawn_app_with(manual(), |c| {
        c.step_up.insert(
            "reports.export".into(),
            deadbolt_core::policy::ActionRule {
                window_seconds: Some(600),
                sliding: true,
                methods: None,
            },
        );
    })
    .await;
    let mut tokens = app.signed_in("slider@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    app.step_up_password(&access, "reports.export").await;
    let checked = app.now_unix();
    let ask = |access: String| {
        let app = &app;
        async move {
            app.send_auth(
                Method::POST,
                "/v1/step-up",
                &access,
                Some(json!({"action": "reports.export"})),
            )
            .await
            .json::<Value>()
            .await
            .unwrap()
        }
    };
    // used every nine minutes (the session kept alive by refreshes), it slides, but never
    // past the hour
    let mut elapsed = 0;
    while elapsed + 540 < 3600 {
        app.advance(Duration::seconds(540));
        elapsed += 540;
        tokens = app
            .post(
                "/v1/token/refresh",
                json!({"refresh_token": tokens["refresh_token"]}),
            )
            .await
            .json()
            .await
            .unwrap();
        let body = ask(tokens["access_token"].as_str().unwrap().to_owned()).await;
        assert_eq!(body["satisfied"], true, "at {elapsed} s: {body}");
        let until = time::OffsetDateTime::parse(
            body["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp();
        assert!(until <= checked + 3600, "at {elapsed} s: ends {until}");
    }
    app.advance(Duration::seconds(3600 - elapsed));
    tokens = app
        .post(
            "/v1/token/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let body = ask(tokens["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(body["satisfied"], false, "{body}");
}

#[tokio::test]
async fn an_admin_mfa_reset_grant_serves_only_its_account_and_ends_everything() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let first = app.enrolled("first@example.com").await;
    let second = app.enrolled("second@example.com").await;
    let key: Value = app.api_key(&second.access, "bot").await;
    let (admin, admin_secret) = admin_signed_in(&app, "root@example.com").await;
    let id_of = |access: String| {
        let app = &app;
        async move {
            let me: Value = app.get_auth("/v1/me", &access).await.json().await.unwrap();
            me["id"].as_str().unwrap().to_owned()
        }
    };
    let (first_id, second_id) = (
        id_of(first.access.clone()).await,
        id_of(second.access.clone()).await,
    );
    // the sign-in spent the admin's current time step
    app.advance(Duration::seconds(30));
    app.step_up_totp_on(
        &admin,
        "admin.mfa_reset",
        Some(&first_id),
        &admin_secret,
        None,
    )
    .await;
    // asked for the first account: no good for the second
    let second_path = format!("/v1/admin/accounts/{second_id}/mfa/reset");
    let r = app
        .send_auth(Method::POST, &second_path, &admin, None)
        .await;
    let body = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(body["target"], second_id.as_str());
    app.step_up_totp_on(
        &admin,
        "admin.mfa_reset",
        Some(&second_id),
        &admin_secret,
        None,
    )
    .await;
    while app.next_mail_within(1).await.is_some() {}
    let r = app
        .send_auth(Method::POST, &second_path, &admin, None)
        .await;
    assert_eq!(r.status(), 204);
    // the session that may have prompted the reset, and the keys it made, are gone
    assert_problem(
        app.get_auth("/v1/me", &second.access).await,
        401,
        "invalid_token",
    )
    .await;
    let seen: Value = app
        .post("/v1/api-keys/introspect", json!({"key": key["key"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["active"], false, "{seen}");
    // the first account's grant is still open for it
    let r = app
        .send_auth(
            Method::POST,
            &format!("/v1/admin/accounts/{first_id}/mfa/reset"),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_password_change_ends_pending_sign_ins_and_resets_and_can_revoke_keys() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let email = "changer@example.com";
    let tokens = app.signed_in(email).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let key: Value = app.api_key(&access, "bot").await;
    // a reset token someone got from the mailbox, not yet used
    let reset = app.reset_token(email).await;
    app.step_up_password(&access, "password.change").await;
    let new_password = "another private passphrase 77";
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/password",
            &access,
            Some(json!({"current_password": PASSWORD, "new_password": new_password, "revoke_api_keys": true})),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset["reset_token"], "new_password": "the thief's choice 1234"}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    let seen: Value = app
        .post("/v1/api-keys/introspect", json!({"key": key["key"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["active"], false, "{seen}");
}

#[tokio::test]
async fn a_pending_sign_in_dies_with_the_password_it_began_with() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("pending@example.com").await;
    // a thief with the old password, waiting at the second step
    let mfa_token = app.mfa_token(&user.email).await;
    app.step_up_totp(&user.access, "password.change", &user.secret)
        .await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/password",
            &user.access,
            Some(json!({"current_password": PASSWORD, "new_password": "another private passphrase 77"})),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = app.verify_totp(&mfa_token, &app.code(&user.secret)).await;
    assert_problem(r, 401, "mfa_token_invalid").await;
}

#[tokio::test]
async fn every_api_response_says_no_store() {
    let app = spawn_app().await;
    let tokens = app.signed_in("cache@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let login = app.login("cache@example.com", PASSWORD).await;
    let wrong = app.login("cache@example.com", "not the password").await;
    let me = app.get_auth("/v1/me", access).await;
    let totp = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", access, None)
        .await;
    let missing = app.get("/v1/nowhere").await;
    for r in [login, wrong, me, totp, missing] {
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{}",
            r.url()
        );
    }
}

#[tokio::test]
async fn a_step_up_token_is_no_access_token() {
    let app = spawn_app().await;
    let tokens = app.signed_in("tokens@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    app.step_up_password(access, "billing.refund").await;
    // asked again while the grant is open: the token
    let done: Value = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            access,
            Some(json!({"action": "billing.refund"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let step_up_token = done["step_up_token"].as_str().unwrap();
    // an app that checks signature, issuer, audience and expiry, as most do
    let key = app.signing_key_of(step_up_token).await;
    let mut as_access = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    as_access.set_audience(&["http://deadbolt.test"]);
    as_access.set_issuer(&["http://deadbolt.test"]);
    assert!(jsonwebtoken::decode::<Value>(step_up_token, &key, &as_access).is_err());
    assert!(jsonwebtoken::decode::<Value>(access, &key, &as_access).is_ok());
    let claims = verified_claims(&app, step_up_token).await;
    assert_eq!(claims["aud"], "http://deadbolt.test/step-up");
    // nor does the service take it as one
    assert_problem(
        app.get_auth("/v1/me", step_up_token).await,
        401,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn one_credential_confirmed_by_two_accounts_at_once_is_a_400_never_a_500() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = crate::webauthn::spawn().await;
    for round in 0..3 {
        let a = app.access_token(&format!("a{round}@example.com")).await;
        let b = app.access_token(&format!("b{round}@example.com")).await;
        let begin = |access: String| {
            let app = &app;
            async move {
                let e: Value = app
                    .send_auth(
                        Method::POST,
                        "/v1/me/mfa/webauthn",
                        &access,
                        Some(json!({})),
                    )
                    .await
                    .json()
                    .await
                    .unwrap();
                (
                    e["method_id"].as_str().unwrap().to_owned(),
                    e["public_key"].clone(),
                )
            }
        };
        let (a_method, a_options) = begin(a.clone()).await;
        let (b_method, b_options) = begin(b.clone()).await;
        let mut key = crate::webauthn::Key::new();
        let for_a = key.register(&a_options).await;
        // the same credential, answered to b's challenge: with `none` attestation nothing
        // signs the client data at registration, so anyone can replay a credential so
        let mut for_b = for_a.clone();
        let mut client_data: Value = serde_json::from_slice(
            &b64.decode(for_a["response"]["clientDataJSON"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        client_data["challenge"] = b_options["challenge"].clone();
        for_b["response"]["clientDataJSON"] =
            json!(b64.encode(serde_json::to_vec(&client_data).unwrap()));
        let confirm = |access: String, method: String, credential: Value| {
            let app = &app;
            async move {
                app.send_auth(
                    Method::POST,
                    &format!("/v1/me/mfa/{method}/confirm"),
                    &access,
                    Some(json!({"credential": credential})),
                )
                .await
            }
        };
        let (ra, rb) = tokio::join!(confirm(a, a_method, for_a), confirm(b, b_method, for_b));
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}");
        let loser = if ra.status() == 400 { ra } else { rb };
        assert_problem(loser, 400, "invalid_credential").await;
    }
}

#[tokio::test]
async fn a_password_step_up_does_not_outlive_the_factor_it_let_in() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let tokens = app.signed_in("outlive@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // a password step-up for mfa.manage, then the first factor
    app.step_up_password(&access, "mfa.manage").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &access, None)
        .await;
    assert_eq!(r.status(), 201);
    let e: Value = r.json().await.unwrap();
    let method_id = e["method_id"].as_str().unwrap();
    let r = app
        .send_auth(
            Method::POST,
            &format!("/v1/me/mfa/{method_id}/confirm"),
            &access,
            Some(json!({"code": app.code(e["secret"].as_str().unwrap())})),
        )
        .await;
    assert_eq!(r.status(), 200);
    // MFA is on: taking the factor off again needs that factor, not the password step-up
    let r = app
        .send_auth(
            Method::DELETE,
            &format!("/v1/me/mfa/{method_id}"),
            &access,
            None,
        )
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/disable", &access, None)
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
}

#[tokio::test]
async fn an_enrolment_only_session_past_its_recent_sign_in_steps_up_and_enrols() {
    let app = spawn_app_with(manual(), |c| c.mfa.enforcement = "required".into()).await;
    let tokens = app.signed_in("late@example.com").await;
    assert_eq!(tokens["enrollment_required"], true, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    app.advance(Duration::seconds(301));
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &access, None)
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    app.step_up_password(&access, "mfa.manage").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &access, None)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn turning_mfa_off_twice_at_once_does_it_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("twice-off@example.com").await;
    let other = second_session(&app, &user).await;
    app.step_up_totp(&user.access, "mfa.manage", &user.secret)
        .await;
    app.step_up_totp(&other, "mfa.manage", &user.secret).await;
    let (a, b) = tokio::join!(
        app.send_auth(Method::POST, "/v1/me/mfa/disable", &user.access, None),
        app.send_auth(Method::POST, "/v1/me/mfa/disable", &other, None),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (204, 204));
    let kinds = app.event_kinds(&user.access).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "mfa_disabled").count(),
        1,
        "{kinds:?}"
    );
}
