//! TOTP, recovery codes and the two-step login, with codes from an independent implementation.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

#[tokio::test]
async fn totp_enrolment_turns_mfa_on_and_login_needs_the_code() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = app.signed_in("totp@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let _verify_mail = app.next_mail().await;

    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/totp",
            access,
            Some(json!({"label": "Phone"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap();
    assert_eq!(
        data_encoding::BASE32_NOPAD
            .decode(secret.as_bytes())
            .unwrap()
            .len(),
        20,
        "160-bit secret"
    );
    let uri = e["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Deadbolt:totp%40example.com?"),
        "{uri}"
    );
    assert!(
        uri.contains(&format!("secret={secret}"))
            && uri.contains("issuer=Deadbolt")
            && uri.contains("digits=6")
            && uri.contains("period=30")
    );
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let method_id = e["method_id"].as_str().unwrap();

    // pending: not yet a second factor
    let me: Value = app
        .get_auth("/v1/me/mfa", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["enabled"], false);
    assert_eq!(
        app.login("totp@example.com", PASSWORD)
            .await
            .json::<Value>()
            .await
            .unwrap()["mfa_required"],
        false
    );

    let confirm = |code: String| {
        let path = format!("/v1/me/mfa/{method_id}/confirm");
        let app = &app;
        async move {
            app.send_auth(Method::POST, &path, access, Some(json!({"code": code})))
                .await
        }
    };
    let wrong = if app.code(secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_problem(confirm(wrong.to_owned()).await, 400, "invalid_code").await;
    let r = confirm(app.code(secret)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"]["id"], method_id);
    assert_eq!(body["method"]["type"], "totp");
    assert_eq!(body["method"]["label"], "Phone");
    let codes: Vec<&str> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    for c in &codes {
        assert_eq!(c.len(), 19, "xxxx-xxxx-xxxx-xxxx: {c}");
        assert_eq!(c.matches('-').count(), 3);
    }
    let mail = app.next_mail().await;
    assert_eq!(mail.subject, "Two-step sign-in is on");

    let overview: Value = app
        .get_auth("/v1/me/mfa", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["enabled"], true);
    assert_eq!(overview["primary_method_id"], method_id);
    assert_eq!(overview["recovery_codes_remaining"], 10);
    let types: Vec<&str> = overview["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["totp", "recovery_code"]);
    assert_eq!(
        app.get_auth("/v1/me", access)
            .await
            .json::<Value>()
            .await
            .unwrap()["mfa_enabled"],
        true
    );

    // the two-step login
    app.advance(Duration::seconds(30));
    let r = app.login("totp@example.com", PASSWORD).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["expires_in"], 300);
    assert!(
        body.get("access_token").is_none(),
        "no tokens before the second factor"
    );
    let methods = body["methods"].as_array().unwrap();
    assert_eq!(methods[0]["id"], method_id);
    assert_eq!(methods[0]["type"], "totp");
    assert_eq!(methods[0]["primary"], true);
    assert_eq!(methods[1]["type"], "recovery_code");
    let mfa_token = body["mfa_token"].as_str().unwrap();
    // the mfa_token grants nothing else
    assert_problem(
        app.get_auth("/v1/me", mfa_token).await,
        401,
        "invalid_token",
    )
    .await;
    let r = app
        .post("/v1/token/refresh", json!({"refresh_token": mfa_token}))
        .await;
    assert_problem(r, 401, "invalid_token").await;

    let r = app.verify_totp(mfa_token, &app.code(secret)).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["mfa_required"], false);
    let claims = verified_claims(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "aal2");
    // the token is spent
    app.advance(Duration::seconds(30));
    assert_problem(
        app.verify_totp(mfa_token, &app.code(secret)).await,
        401,
        "mfa_token_invalid",
    )
    .await;
}

#[tokio::test]
async fn a_time_step_is_accepted_once_and_replays_are_told() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("replay@example.com").await;
    while app.next_mail_within(1).await.is_some() {}
    let code = app.code(&user.secret);
    assert_eq!(
        app.verify_totp(&app.mfa_token(&user.email).await, &code)
            .await
            .status(),
        200
    );
    let again = app.mfa_token(&user.email).await;
    let body = assert_problem(app.verify_totp(&again, &code).await, 401, "invalid_code").await;
    assert_eq!(body["attempts_remaining"], 4);
    app.next_mail_titled("A used sign-in code was tried again")
        .await;
    let events: Value = app
        .get_auth("/v1/me/events?limit=100", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let replay = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "mfa_replay_refused")
        .expect("replay event");
    assert_eq!(replay["ip"], "127.0.0.1");
}

#[tokio::test]
async fn clock_edges_previous_and_next_steps_pass_two_away_do_not() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("edges@example.com").await;
    // the confirmation spent the step before this one: move on so that it is fresh
    app.advance(Duration::seconds(30));
    let now = app.now_unix();
    for far in [now - 60, now + 60] {
        let t = app.mfa_token(&user.email).await;
        assert_problem(
            app.verify_totp(&t, &totp_at(&user.secret, far)).await,
            401,
            "invalid_code",
        )
        .await;
    }
    let t = app.mfa_token(&user.email).await;
    assert_eq!(
        app.verify_totp(&t, &totp_at(&user.secret, now - 30))
            .await
            .status(),
        200,
        "previous step"
    );
    let t = app.mfa_token(&user.email).await;
    assert_eq!(
        app.verify_totp(&t, &totp_at(&user.secret, now + 30))
            .await
            .status(),
        200,
        "next step"
    );
    // the next step was spent, so the current one (older) no longer passes
    let t = app.mfa_token(&user.email).await;
    assert_problem(
        app.verify_totp(&t, &totp_at(&user.secret, now)).await,
        401,
        "invalid_code",
    )
    .await;
}

#[tokio::test]
async fn an_mfa_token_dies_after_five_wrong_codes_or_five_minutes() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("token@example.com").await;
    let right = app.code(&user.secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let t = app.mfa_token(&user.email).await;
    for remaining in (0..5).rev() {
        let body = assert_problem(app.verify_totp(&t, wrong).await, 401, "invalid_code").await;
        assert_eq!(body["attempts_remaining"], remaining);
    }
    // dead: the right code now tells nothing
    assert_problem(app.verify_totp(&t, &right).await, 401, "mfa_token_invalid").await;

    let t = app.mfa_token(&user.email).await;
    app.advance(Duration::seconds(301));
    assert_problem(
        app.verify_totp(&t, &app.code(&user.secret)).await,
        401,
        "mfa_token_invalid",
    )
    .await;
    for junk in ["", "mfa_nope", &"x".repeat(500)] {
        assert_problem(
            app.verify_totp(junk, &right).await,
            401,
            "mfa_token_invalid",
        )
        .await;
    }
    // missing code and unsupported types are request errors
    let t = app.mfa_token(&user.email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "totp"}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "fingerprint", "code": "1"}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": t, "method_id": user.method_id}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_across_tokens() {
    let mut app = spawn_app_with(manual(), |c| c.lockout.account_max_failures = 3).await;
    let user = app.enrolled("locked@example.com").await;
    while app.next_mail_within(1).await.is_some() {}
    let wrong = if app.code(&user.secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..3 {
        let t = app.mfa_token(&user.email).await;
        assert_problem(app.verify_totp(&t, wrong).await, 401, "invalid_code").await;
    }
    let t = app.mfa_token(&user.email).await;
    let r = app.verify_totp(&t, &app.code(&user.secret)).await;
    assert_eq!(r.headers()["retry-after"], "900");
    assert_problem(r, 429, "mfa_locked").await;
    assert_eq!(
        app.next_mail().await.subject,
        "Second-factor checks are locked"
    );
    app.advance(Duration::seconds(900));
    let t = app.mfa_token(&user.email).await;
    let r = app.verify_totp(&t, &app.code(&user.secret)).await;
    assert_eq!(r.status(), 200);
    // the first access token expired while the lock ran out: use the new one
    let access = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let events: Value = app
        .get_auth("/v1/me/events?limit=100", &access)
        .await
        .json()
        .await
        .unwrap();
    assert!(events["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "mfa_locked"));
}

#[tokio::test]
async fn an_authenticator_waits_longer_then_is_disabled() {
    let mut app = spawn_app_with(manual(), |c| c.lockout.account_max_failures = 1000).await;
    let user = app.enrolled("cap@example.com").await;
    while app.next_mail_within(1).await.is_some() {}
    let wrong = |app: &TestApp| {
        if app.code(&user.secret) == "000000" {
            "111111".to_owned()
        } else {
            "000000".to_owned()
        }
    };
    for _ in 0..2 {
        let t = app.mfa_token(&user.email).await;
        for _ in 0..5 {
            assert_problem(app.verify_totp(&t, &wrong(&app)).await, 401, "invalid_code").await;
        }
    }
    // ten in a row: the next try must wait
    let t = app.mfa_token(&user.email).await;
    let r = app.verify_totp(&t, &app.code(&user.secret)).await;
    assert_eq!(r.headers()["retry-after"], "30");
    assert_problem(r, 429, "too_many_attempts").await;
    app.advance(Duration::seconds(30));
    assert_eq!(
        app.verify_totp(&t, &app.code(&user.secret)).await.status(),
        200,
        "a success resets the run"
    );

    // a low cap disables it
    let app = spawn_app_with(manual(), |c| c.lockout.authenticator_max_failures = 3).await;
    let user = app.enrolled("cap2@example.com").await;
    let t = app.mfa_token(&user.email).await;
    for _ in 0..3 {
        assert_problem(app.verify_totp(&t, &wrong(&app)).await, 401, "invalid_code").await;
    }
    let t = app.mfa_token(&user.email).await;
    assert_problem(
        app.verify_totp(&t, &app.code(&user.secret)).await,
        403,
        "authenticator_disabled",
    )
    .await;
    let overview: Value = app
        .get_auth("/v1/me/mfa", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let totp = overview["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "totp")
        .unwrap();
    assert_eq!(totp["disabled"], true);
}

#[tokio::test]
async fn recovery_codes_work_once_and_are_told() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("recover@example.com").await;
    while app.next_mail_within(1).await.is_some() {}
    let code = &user.recovery_codes[0];
    // people type codes in capitals, with spaces
    let typed = code.to_uppercase().replace('-', " ");
    let t = app.mfa_token(&user.email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "recovery_code", "code": typed}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    // passing over notices a loaded machine delivers late (the enrolment's, say)
    app.next_mail_titled("A recovery code was used").await;

    let t = app.mfa_token(&user.email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "recovery_code", "code": code}),
        )
        .await;
    assert_problem(r, 401, "invalid_code").await;
    let overview: Value = app
        .get_auth("/v1/me/mfa", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["recovery_codes_remaining"], 9);
    let events: Value = app
        .get_auth("/v1/me/events?limit=100", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let used = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "recovery_code_used")
        .unwrap();
    assert_eq!(used["ip"], "127.0.0.1");
    assert!(
        !events.to_string().contains(code.as_str()),
        "codes never appear in events"
    );
}

#[tokio::test]
async fn recovery_codes_have_their_own_failure_bucket() {
    let app = spawn_app_with(manual(), |c| {
        c.lockout.recovery_max_failures = 2;
        c.lockout.account_max_failures = 50;
    })
    .await;
    let user = app.enrolled("bucket@example.com").await;
    let t = app.mfa_token(&user.email).await;
    for _ in 0..2 {
        let r = app
            .post(
                "/v1/login/mfa/verify",
                json!({"mfa_token": t, "type": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"}),
            )
            .await;
        assert_problem(r, 401, "invalid_code").await;
    }
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": t, "type": "recovery_code", "code": user.recovery_codes[1]}),
        )
        .await;
    assert_problem(r, 429, "mfa_locked").await;
    // TOTP counts in its own bucket and still works
    assert_eq!(
        app.verify_totp(&t, &app.code(&user.secret)).await.status(),
        200
    );
}

#[tokio::test]
async fn parallel_verifications_of_one_code_succeed_exactly_once() {
    let app = spawn_app_with(manual(), |c| c.lockout.account_max_failures = 100).await;
    let user = app.enrolled("parallel@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(app.mfa_token(&user.email).await);
    }
    let code = app.code(&user.secret);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let client = app.client.clone();
            let url = app.url("/v1/login/mfa/verify");
            let body = json!({"mfa_token": t, "type": "totp", "code": code});
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
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
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // the losers are wrong codes, or (once ten failed in a row) told to wait
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn trusted_devices_skip_the_second_factor_for_that_browser_only() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("device@example.com").await;
    let t = app.mfa_token(&user.email).await;
    let r = app.post("/v1/login/mfa/verify", json!({"mfa_token": t, "type": "totp", "code": app.code(&user.secret), "trust_device": true})).await;
    let body: Value = r.json().await.unwrap();
    let device = body["device_token"].as_str().unwrap().to_owned();
    assert!(device.starts_with("dt_"));

    let login = |ua: &'static str, device: String| {
        let app = &app;
        let email = user.email.clone();
        async move {
            app.client
                .post(app.url("/v1/login"))
                .header("user-agent", ua)
                .json(&json!({"email": email, "password": PASSWORD, "device_token": device}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        login("deadbolt-tests/1.0", device.clone()).await["mfa_required"],
        false,
        "same browser: trusted"
    );
    assert_eq!(
        login("other-browser/2.0", device.clone()).await["mfa_required"],
        true,
        "bound to the User-Agent"
    );
    assert_eq!(
        login("deadbolt-tests/1.0", "dt_forged".into()).await["mfa_required"],
        true
    );

    let list: Value = app
        .get_auth("/v1/me/devices", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["user_agent"], "deadbolt-tests/1.0");
    let id = items[0]["id"].as_str().unwrap();
    let r = app
        .send_auth(
            Method::DELETE,
            &format!("/v1/me/devices/{id}"),
            &user.access,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        login("deadbolt-tests/1.0", device.clone()).await["mfa_required"],
        true,
        "revoked"
    );
    let r = app
        .send_auth(
            Method::DELETE,
            &format!("/v1/me/devices/{id}"),
            &user.access,
            None,
        )
        .await;
    assert_problem(r, 404, "not_found").await;

    // a new one expires after 30 days
    app.advance(Duration::seconds(30));
    let t = app.mfa_token(&user.email).await;
    let r = app.post("/v1/login/mfa/verify", json!({"mfa_token": t, "type": "totp", "code": app.code(&user.secret), "trust_device": true})).await;
    let device = r.json::<Value>().await.unwrap()["device_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(Duration::days(30));
    assert_eq!(
        login("deadbolt-tests/1.0", device).await["mfa_required"],
        true
    );
}

#[tokio::test]
async fn totp_secrets_are_sealed_and_survive_a_master_key_rotation() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("rotate-key@example.com").await;
    let store = deadbolt_store::Store::open(&app.config.database.url, 2).unwrap();
    let stored = store.all_totp().await.unwrap();
    assert_eq!(stored.len(), 1);
    let raw = data_encoding::BASE32_NOPAD
        .decode(user.secret.as_bytes())
        .unwrap();
    assert!(
        !stored[0]
            .ciphertext
            .windows(raw.len())
            .any(|w| w == raw.as_slice()),
        "the secret is not stored in the clear"
    );

    // rotate while the server runs
    let report = deadbolt_usecases::rotation::rotate(
        &store,
        &app.config.secrets.master_key_file,
        &deadbolt_usecases::system::OsRandom,
    )
    .await
    .unwrap();
    assert_eq!(report.totp_secrets, 1);
    // the two signing keys (Ed25519, RSA) and the hashing key
    assert_eq!(report.service_keys, 3);
    assert!(store
        .all_totp()
        .await
        .unwrap()
        .iter()
        .all(|t| t.master_key_id == report.new_key_id));
    let t = app.mfa_token(&user.email).await;
    let r = app.verify_totp(&t, &app.code(&user.secret)).await;
    assert_eq!(r.status(), 200, "the running server reads the new key");
    assert_eq!(
        app.get_auth("/v1/me", &user.access).await.status(),
        200,
        "tokens signed before still verify"
    );
    assert_eq!(
        deadbolt_usecases::rotation::prune(&store, &app.config.secrets.master_key_file)
            .await
            .unwrap(),
        1
    );
    app.advance(Duration::seconds(30));
    let t = app.mfa_token(&user.email).await;
    assert_eq!(
        app.verify_totp(&t, &app.code(&user.secret)).await.status(),
        200
    );
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_cannot_slip_under_the_lock() {
    let app = spawn_app_with(manual(), |c| c.lockout.account_max_failures = 3).await;
    let user = app.enrolled("burst@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(app.mfa_token(&user.email).await);
    }
    let wrong = if app.code(&user.secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(tokens.len()));
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let client = app.client.clone();
            let url = app.url("/v1/login/mfa/verify");
            let body = json!({"mfa_token": t, "type": "totp", "code": wrong});
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let r = client.post(url).json(&body).send().await.unwrap();
                r.json::<Value>().await.unwrap()["error"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        errors.push(t.await.unwrap());
    }
    let guessed = errors.iter().filter(|e| *e == "invalid_code").count();
    assert!(
        guessed <= 3,
        "at most the lock's allowance may be checked: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e == "invalid_code" || e == "mfa_locked"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_new_enrolment_replaces_a_pending_one_of_its_kind() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let tokens = app.signed_in("pending@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    // an attacker's enrolment, left pending while MFA is off
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", access, None)
        .await;
    let planted: Value = r.json().await.unwrap();
    // the owner turns MFA on with their own authenticator
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", access, None)
        .await;
    let own: Value = r.json().await.unwrap();
    let own_secret = own["secret"].as_str().unwrap();
    let path = format!("/v1/me/mfa/{}/confirm", own["method_id"].as_str().unwrap());
    assert_eq!(
        app.send_auth(
            Method::POST,
            &path,
            access,
            Some(json!({"code": app.code(own_secret)}))
        )
        .await
        .status(),
        200
    );
    app.advance(Duration::seconds(30));
    let planted_secret = planted["secret"].as_str().unwrap();
    let path = format!(
        "/v1/me/mfa/{}/confirm",
        planted["method_id"].as_str().unwrap()
    );
    let r = app
        .send_auth(
            Method::POST,
            &path,
            access,
            Some(json!({"code": app.code(planted_secret)})),
        )
        .await;
    // pending methods do not pile up: the owner's enrolment dropped the planted one
    assert_problem(r, 404, "not_found").await;
}
