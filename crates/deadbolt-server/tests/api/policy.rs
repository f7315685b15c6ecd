//! The central policy: read and replaced by administrators under step-up, checked field by
//! field, recorded with before and after, and in force at once here and soon on every instance.

use crate::helpers::*;
use deadbolt_core::clock::Clock;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

async fn get_policy(app: &TestApp, admin: &str) -> (String, Value) {
    let r = app.get_auth("/v1/admin/policy", admin).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    (etag, r.json().await.unwrap())
}

async fn put_policy(app: &TestApp, admin: &str, policy: &Value) -> reqwest::Response {
    app.send_auth(Method::PUT, "/v1/admin/policy", admin, Some(policy.clone()))
        .await
}

#[tokio::test]
async fn an_admin_replaces_the_policy_under_step_up_and_the_change_is_recorded() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, secret) = admin_signed_in(&app, "root@example.com").await;
    let (etag, mut policy) = get_policy(&app, &admin).await;
    assert_eq!(etag, "\"1\"");
    // seeded from the config's defaults
    assert_eq!(policy["mfa"]["enforcement"], "optional");
    assert_eq!(policy["mfa"]["required_for_roles"], json!(["admin"]));
    assert_eq!(policy["trusted_device_days"], 30);
    assert_eq!(policy["lockout"]["token_max_failures"], 5);
    assert_eq!(
        policy["step_up"]["actions"]["team.manage"]["window_seconds"],
        300
    );
    assert_eq!(policy["risk"]["new_country"], "second_factor");

    policy["trusted_device_days"] = json!(7);
    let r = put_policy(&app, &admin, &policy).await;
    let problem = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(problem["action"], "policy.change");

    app.advance(time::Duration::seconds(30));
    app.step_up_totp(&admin, "policy.change", &secret).await;
    let r = put_policy(&app, &admin, &policy).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["trusted_device_days"], 7);
    let (etag, now) = get_policy(&app, &admin).await;
    assert_eq!((etag.as_str(), &now), ("\"2\"", &policy));

    // the step-up was one-shot: another change needs another
    let r = put_policy(&app, &admin, &policy).await;
    assert_problem(r, 401, "insufficient_user_authentication").await;

    // a change based on a version that is no longer current is refused with If-Match
    app.advance(time::Duration::seconds(30));
    app.step_up_totp(&admin, "policy.change", &secret).await;
    let r = app
        .client
        .put(app.url("/v1/admin/policy"))
        .bearer_auth(&admin)
        .header("if-match", "\"1\"")
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_problem(r, 412, "precondition_failed").await;
    let r = app
        .client
        .put(app.url("/v1/admin/policy"))
        .bearer_auth(&admin)
        .header("if-match", "\"2\"")
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"3\"");

    let r = app.get_auth("/v1/admin/events?limit=100", &admin).await;
    let events: Value = r.json().await.unwrap();
    let changed: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "policy_changed")
        .collect();
    assert_eq!(changed.len(), 2);
    // newest first: the If-Match change, then the first
    assert_eq!(changed[1]["detail"]["before"]["trusted_device_days"], 30);
    assert_eq!(changed[1]["detail"]["after"]["trusted_device_days"], 7);
    assert_eq!(changed[1]["detail"]["version"], 2);
    assert_eq!(changed[0]["detail"]["version"], 3);
}

#[tokio::test]
async fn an_invalid_policy_names_its_field_and_spends_no_step_up() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, secret) = admin_signed_in(&app, "root@example.com").await;
    let (_, good) = get_policy(&app, &admin).await;
    app.advance(time::Duration::seconds(30));
    app.step_up_totp(&admin, "policy.change", &secret).await;

    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut p = good.clone();
                p["totp"]["digits"] = json!(4);
                p
            },
            "totp.digits",
        ),
        (
            {
                let mut p = good.clone();
                p["step_up"]["actions"]["password.change"] = json!({"window_seconds": 600});
                p
            },
            "step_up.actions.password.change.window_seconds",
        ),
        (
            {
                let mut p = good.clone();
                p["mfa"]["enforcement"] = json!("sometimes");
                p
            },
            "mfa.enforcement",
        ),
        (
            {
                let mut p = good.clone();
                p.as_object_mut().unwrap().remove("risk");
                p
            },
            "risk",
        ),
        (
            {
                let mut p = good.clone();
                p["lockout"]["surprise"] = json!(1);
                p
            },
            "lockout.surprise",
        ),
        (
            {
                let mut p = good.clone();
                p["locations"] = json!({"admin": {"countries": ["DE"]}});
                p
            },
            // countries without a GeoIP database
            "locations.admin.countries",
        ),
        (
            {
                let mut p = good.clone();
                p["mfa"]["allowed_methods"] = json!(["totp", "carrier_pigeon"]);
                p
            },
            "mfa.allowed_methods[1]",
        ),
        (
            {
                // the administrator (TOTP and recovery codes) could never change it back
                let mut p = good.clone();
                p["step_up"]["actions"]["policy.change"] = json!({"methods": ["voice"]});
                p
            },
            "step_up.actions.policy.change.methods",
        ),
        (
            {
                let mut p = good.clone();
                p["risk"]["burst_failures"] = json!(10);
                p
            },
            "risk.burst_failures",
        ),
    ];
    for (policy, field) in cases {
        let r = put_policy(&app, &admin, &policy).await;
        let problem = assert_problem(r, 400, "invalid_policy").await;
        assert_eq!(problem["field"], field, "{problem}");
        assert!(!problem["problems"].as_array().unwrap().is_empty());
    }
    // nothing was stored, and the one-shot step-up is still there for a good policy
    let (etag, _) = get_policy(&app, &admin).await;
    assert_eq!(etag, "\"1\"");
    let r = put_policy(&app, &admin, &good).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn only_administrators_with_a_second_factor_see_the_policy() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.access_token("user@example.com").await;
    let r = app.get_auth("/v1/admin/policy", &user).await;
    assert_problem(r, 403, "forbidden").await;
    let r = app
        .send_auth(Method::PUT, "/v1/admin/policy", &user, Some(json!({})))
        .await;
    assert_problem(r, 403, "forbidden").await;
    let r = app.get("/v1/admin/policy").await;
    assert_problem(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_change_applies_at_once_allowed_methods_and_per_action_methods() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, secret) = admin_signed_in(&app, "root@example.com").await;
    let user = app.enrolled("user@example.com").await;
    let begin = |access: String| {
        let app = &app;
        async move {
            let r = app
                .send_auth(
                    Method::POST,
                    "/v1/step-up",
                    &access,
                    Some(json!({"action": "payout.change"})),
                )
                .await;
            r.json::<Value>().await.unwrap()
        }
    };
    // before: the authenticator app is offered for `payout.change`
    let before = begin(user.access.clone()).await;
    assert_eq!(before["methods"][0]["type"], "totp", "{before}");

    let (_, mut policy) = get_policy(&app, &admin).await;
    policy["mfa"]["allowed_methods"] = json!(["webauthn", "recovery_code"]);
    policy["step_up"]["actions"]["payout.change"] = json!({"methods": ["webauthn"]});
    app.advance(time::Duration::seconds(30));
    app.step_up_totp(&admin, "policy.change", &secret).await;
    let r = put_policy(&app, &admin, &policy).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // a new authenticator app is refused by policy now
    let other = app.access_token("other@example.com").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &other, None)
        .await;
    assert_problem(r, 403, "factor_not_allowed").await;

    // and the app no longer satisfies payout.change: not offered, and refused if tried
    let begin = begin(user.access.clone()).await;
    assert_eq!(begin["satisfied"], false);
    assert_eq!(begin["methods"], json!([]), "{begin}");
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            &user.access,
            Some(json!({"challenge_token": begin["challenge_token"], "type": "totp", "code": app.code(&user.secret)})),
        )
        .await;
    assert_problem(r, 403, "factor_not_allowed").await;

    // nor does the app, enrolled before the change, prove a sign-in any more
    let mfa_token = app.mfa_token(&user.email).await;
    let r = app.verify_totp(&mfa_token, &app.code(&user.secret)).await;
    assert_problem(r, 403, "factor_not_allowed").await;
}

#[tokio::test]
async fn recovery_codes_stop_proving_anything_once_policy_drops_them() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, secret) = admin_signed_in(&app, "root@example.com").await;
    let user = app.enrolled("user@example.com").await;
    let (_, mut policy) = get_policy(&app, &admin).await;
    policy["mfa"]["allowed_methods"] = json!(["totp", "webauthn"]);
    app.step_up_totp(&admin, "policy.change", &secret).await;
    let r = put_policy(&app, &admin, &policy).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mfa_token = app.mfa_token(&user.email).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "recovery_code", "code": user.recovery_codes[0]}),
        )
        .await;
    assert_problem(r, 403, "factor_not_allowed").await;
    // the app still does
    let r = app.verify_totp(&mfa_token, &app.code(&user.secret)).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn another_instance_applies_a_change_within_seconds() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (admin, secret) = admin_signed_in(&app, "root@example.com").await;
    // a second instance on the same database
    let clock: Arc<dyn Clock> = app.clock.clone().unwrap();
    let second = deadbolt_server::Application::build_with(
        app.config.clone(),
        clock,
        Arc::new(deadbolt_usecases::system::OsRandom),
    )
    .await
    .unwrap();
    let second_url = format!("http://127.0.0.1:{}", second.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(second.run_until(async {
        let _ = stopped.await;
    }));
    let read_second = || async {
        let r = app
            .client
            .get(format!("{second_url}/v1/admin/policy"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    assert_eq!(read_second().await["lockout"]["token_max_failures"], 5);

    let (_, mut policy) = get_policy(&app, &admin).await;
    policy["lockout"]["token_max_failures"] = json!(2);
    app.advance(time::Duration::seconds(30));
    app.step_up_totp(&admin, "policy.change", &secret).await;
    assert_eq!(put_policy(&app, &admin, &policy).await.status(), 200);

    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = read_second().await;
        if seen["lockout"]["token_max_failures"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen["lockout"]["token_max_failures"], 2);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
