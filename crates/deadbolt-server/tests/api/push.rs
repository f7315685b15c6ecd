//! Push approval with number matching: a signed-in session approves another sign-in by
//! picking the number the requesting screen shows.

use crate::helpers::*;
use crate::phone_receiver::PhoneReceiver;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deadbolt_server::Config;
use ed25519_dalek::{Signer, SigningKey};
use reqwest::Method;
use serde_json::{json, Value};

fn allow_push(c: &mut Config) {
    c.mfa.allowed_methods.push("push".into());
}

async fn push_app() -> TestApp {
    spawn_app_with(manual(), allow_push).await
}

/// Signs up and makes that session (A) a push approver: A's access token and the method id.
async fn approver(app: &TestApp, email: &str, body: Value) -> (String, String) {
    let tokens = app.signed_in(email).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/push", &access, Some(body))
        .await;
    assert_eq!(r.status(), 201, "enrol: {}", r.text().await.unwrap());
    let e: Value = r.json().await.unwrap();
    assert!(
        e["recovery_codes"].is_array(),
        "the first method turns MFA on"
    );
    (access, e["method_id"].as_str().unwrap().to_owned())
}

/// As [`approver`], with the recovery codes the enrolment made.
async fn approver_with_codes(app: &TestApp, email: &str) -> (String, String, Vec<String>) {
    let tokens = app.signed_in(email).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/push", &access, Some(json!({})))
        .await;
    assert_eq!(r.status(), 201);
    let e: Value = r.json().await.unwrap();
    let codes = e["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (access, e["method_id"].as_str().unwrap().to_owned(), codes)
}

/// A new sign-in (B) that asks for a push: its mfa_token and the send step's answer.
async fn push_sign_in(app: &TestApp, email: &str, method_id: &str) -> (String, reqwest::Response) {
    let mfa_token = app.mfa_token(email).await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    (mfa_token, r)
}

/// A push sign-in whose request was made: its mfa_token, approval id and number.
async fn requested(app: &TestApp, email: &str, method_id: &str) -> (String, String, u64) {
    let (mfa_token, r) = push_sign_in(app, email, method_id).await;
    assert_eq!(r.status(), 201, "send: {}", r.text().await.unwrap());
    let sent: Value = r.json().await.unwrap();
    let number = sent["number"].as_u64().unwrap();
    assert!((10..=99).contains(&number));
    (
        mfa_token,
        sent["approval_id"].as_str().unwrap().to_owned(),
        number,
    )
}

async fn verify_push(app: &TestApp, mfa_token: &str, approval_id: &str) -> reqwest::Response {
    app.post(
        "/v1/login/mfa/verify",
        json!({"mfa_token": mfa_token, "type": "push", "approval_id": approval_id}),
    )
    .await
}

async fn answer(app: &TestApp, access: &str, id: &str, body: Value) -> reqwest::Response {
    app.send_auth(
        Method::POST,
        &format!("/v1/me/approvals/{id}"),
        access,
        Some(body),
    )
    .await
}

async fn listed(app: &TestApp, access: &str) -> Vec<Value> {
    let r = app.get_auth("/v1/me/approvals", access).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

fn wrong(number: u64) -> String {
    (if number == 99 { 10 } else { number + 1 }).to_string()
}

#[tokio::test]
async fn the_right_number_signs_the_waiting_sign_in_in() {
    let app = push_app().await;
    let (a, method_id) = approver(&app, "push-ok@example.com", json!({})).await;
    let (mfa_token, approval_id, number) = requested(&app, "push-ok@example.com", &method_id).await;
    // still waiting: pending, no failure counted
    assert_problem(
        verify_push(&app, &mfa_token, &approval_id).await,
        400,
        "authorization_pending",
    )
    .await;
    let list = listed(&app, &a).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], approval_id.as_str());
    assert_eq!(list[0]["purpose"], "sign_in");
    assert!(
        list[0].get("number").is_none(),
        "the approver is never told the number"
    );
    assert!(!list[0].to_string().contains(&format!(":{number}")));
    let r = answer(
        &app,
        &a,
        &approval_id,
        json!({"decision": "approve", "number": number.to_string()}),
    )
    .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    assert!(listed(&app, &a).await.is_empty());
    let r = verify_push(&app, &mfa_token, &approval_id).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let tokens: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, tokens["access_token"].as_str().unwrap()).await;
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        amr.contains(&"mca") && amr.contains(&"mfa") && amr.contains(&"pwd"),
        "{amr:?}"
    );
    assert_eq!(
        claims["acr"], "aal1",
        "an approval by a session alone is not aal2"
    );
    // single use: neither again, nor answered twice
    assert_problem(
        verify_push(&app, &mfa_token, &approval_id).await,
        401,
        "mfa_token_invalid",
    )
    .await;
    let again = answer(
        &app,
        &a,
        &approval_id,
        json!({"decision": "approve", "number": number.to_string()}),
    )
    .await;
    assert_problem(again, 404, "not_found").await;
    let kinds = app.event_kinds(&a).await;
    assert!(
        kinds.iter().any(|k| k == "push_requested") && kinds.iter().any(|k| k == "push_approved"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_key_bound_approver_signs_its_answer_and_gives_aal2() {
    let app = push_app().await;
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public_key = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let (a, method_id) = approver(
        &app,
        "push-key@example.com",
        json!({"public_key": public_key, "label": "My phone"}),
    )
    .await;
    let (mfa_token, id, number) = requested(&app, "push-key@example.com", &method_id).await;
    let n = number.to_string();
    // unsigned, or signed for another decision: refused, and the request still waits
    let r = answer(&app, &a, &id, json!({"decision": "approve", "number": n})).await;
    assert_problem(r, 400, "invalid_credential").await;
    let bad = key.sign(format!("deadbolt-approval:{id}:{n}:deny").as_bytes());
    let r = answer(&app, &a, &id, json!({"decision": "approve", "number": n, "signature": URL_SAFE_NO_PAD.encode(bad.to_bytes())})).await;
    assert_problem(r, 400, "invalid_credential").await;
    let good = key.sign(format!("deadbolt-approval:{id}:{n}:approve").as_bytes());
    let r = answer(&app, &a, &id, json!({"decision": "approve", "number": n, "signature": URL_SAFE_NO_PAD.encode(good.to_bytes())})).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = verify_push(&app, &mfa_token, &id).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "aal2");
    assert!(claims["amr"].as_array().unwrap().iter().any(|v| v == "swk"));
    // a malformed key is refused at enrolment
    let other = app.access_token("push-badkey@example.com").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/push",
            &other,
            Some(json!({"public_key": "abc"})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_wrong_number_denies_the_request_and_counts_as_a_failure() {
    let app = push_app().await;
    let email = "push-wrong@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let (mfa_token, id, number) = requested(&app, email, &method_id).await;
    let r = answer(
        &app,
        &a,
        &id,
        json!({"decision": "approve", "number": wrong(number)}),
    )
    .await;
    assert_problem(r, 400, "invalid_code").await;
    // no second guess
    let r = answer(
        &app,
        &a,
        &id,
        json!({"decision": "approve", "number": number.to_string()}),
    )
    .await;
    assert_problem(r, 404, "not_found").await;
    assert_problem(
        verify_push(&app, &mfa_token, &id).await,
        403,
        "access_denied",
    )
    .await;
    let store = deadbolt_store::Store::open(&app.config.database.url, 1).unwrap();
    let method = store
        .methods_of(deadbolt_core::ids::AccountId(
            app.get_auth("/v1/me", &a)
                .await
                .json::<Value>()
                .await
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        ))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id.to_string() == method_id)
        .unwrap();
    assert_eq!(
        method.consecutive_failures, 1,
        "the authenticator's failure count moved"
    );
    assert!(app.event_kinds(&a).await.iter().any(|k| k == "push_denied"));
}

#[tokio::test]
async fn this_wasnt_me_pauses_push_tells_the_owner_and_leaves_other_factors() {
    let mut app = push_app().await;
    let email = "push-deny@example.com";
    let e = app.enrolled(email).await;
    app.step_up_totp(&e.access, "mfa.manage", &e.secret).await;
    app.advance(time::Duration::seconds(30));
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/push", &e.access, Some(json!({})))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let method_id = r.json::<Value>().await.unwrap()["method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mfa_token, id, _) = requested(&app, email, &method_id).await;
    let r = answer(&app, &e.access, &id, json!({"decision": "deny"})).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    assert_problem(
        verify_push(&app, &mfa_token, &id).await,
        403,
        "access_denied",
    )
    .await;
    let mail = app.next_mail_titled("A sign-in request was refused").await;
    assert!(mail.to.iter().any(|t| t.contains(email)), "{:?}", mail.to);
    assert!(app
        .event_kinds(&e.access)
        .await
        .iter()
        .any(|k| k == "push_denied"));
    // the next push within the pause: 429 with Retry-After
    let (token, r) = push_sign_in(&app, email, &method_id).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_problem(r, 429, "too_many_attempts").await;
    // TOTP still works
    let r = app.verify_totp(&token, &app.code(&e.secret)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_burst_of_sign_ins_makes_one_prompt() {
    // each sign-in reserves a failure until its password checks out: room for twenty at once
    let app = spawn_app_with(manual(), |c| {
        allow_push(c);
        c.limits.login_failures_per_account = 50;
    })
    .await;
    let email = "push-burst@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, base, method_id) = (app.client.clone(), app.url(""), method_id.clone());
        set.spawn(async move {
            // the password-hash pool may be full for a moment (503): sign in when it has room
            let body: Value = loop {
                let r = client
                    .post(format!("{base}/v1/login"))
                    .json(&json!({"email": email, "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                if r.status() != 503 {
                    break r.json().await.unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            };
            let token = body["mfa_token"].as_str().unwrap().to_owned();
            let r = client
                .post(format!("{base}/v1/login/mfa/challenge"))
                .json(&json!({"mfa_token": token, "method_id": method_id}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (token, status, r.json::<Value>().await.unwrap())
        });
    }
    let mut results = Vec::new();
    while let Some(done) = set.join_next().await {
        results.push(done.unwrap());
    }
    let statuses: Vec<u16> = results.iter().map(|r| r.1).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(listed(&app, &a).await.len(), 1);
    // the same challenge asking again gets the same request (idempotent)
    let (token, _, first) = results.iter().find(|r| r.1 == 201).unwrap();
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["approval_id"], first["approval_id"]);
    assert_eq!(again["number"], first["number"]);
}

#[tokio::test]
async fn only_the_approver_session_sees_and_answers_and_only_its_challenge_spends_it() {
    let app = push_app().await;
    let email = "push-other@example.com";
    let (_a, method_id, codes) = approver_with_codes(&app, email).await;
    let (mfa_token, id, number) = requested(&app, email, &method_id).await;
    // the request serves no other sign-in
    let other = app.mfa_token(email).await;
    assert_problem(verify_push(&app, &other, &id).await, 400, "invalid_request").await;
    // another session of the same account, signed in with a recovery code: sees nothing
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": other, "type": "recovery_code", "code": codes[0]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let b = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(listed(&app, &b).await.is_empty());
    let r = answer(
        &app,
        &b,
        &id,
        json!({"decision": "approve", "number": number.to_string()}),
    )
    .await;
    assert_problem(r, 404, "not_found").await;
    let stranger = app.access_token("push-stranger@example.com").await;
    assert!(listed(&app, &stranger).await.is_empty());
    let r = answer(
        &app,
        &stranger,
        &id,
        json!({"decision": "approve", "number": number.to_string()}),
    )
    .await;
    assert_problem(r, 404, "not_found").await;
    assert_problem(
        verify_push(&app, &mfa_token, &id).await,
        400,
        "authorization_pending",
    )
    .await;
}

#[tokio::test]
async fn the_push_gateway_gets_the_request_without_the_number() {
    let (port, listener) = PhoneReceiver::reserve();
    let app = spawn_app_with(manual(), |c| {
        allow_push(c);
        c.sms.provider = "webhook".into();
        c.sms.webhook_url = format!("http://127.0.0.1:{port}/sms");
        c.sms.webhook_secret = "a-webhook-secret-of-at-least-32-characters".into();
    })
    .await;
    let mut gateway =
        PhoneReceiver::webhook_on(listener, "a-webhook-secret-of-at-least-32-characters", &app)
            .await;
    let email = "push-gateway@example.com";
    let (_a, method_id) = approver(&app, email, json!({"push_token": "device-token-123"})).await;
    let (_t, id, number) = requested(&app, email, &method_id).await;
    let got = gateway.next().await;
    assert_eq!(got.channel, "push");
    assert_eq!(got.to, "device-token-123");
    assert!(got.body.contains(&id), "{}", got.body);
    let without_id = got.body.replace(&id, "");
    assert!(
        !without_id.contains(&number.to_string()),
        "the number must not travel: {}",
        got.body
    );
}

/// A sign-in finished by an approval: the new session's access token.
async fn signed_in_by_push(app: &TestApp, email: &str, a: &str, method_id: &str) -> String {
    let (mfa_token, id, number) = requested(app, email, method_id).await;
    let r = answer(
        app,
        a,
        &id,
        json!({"decision": "approve", "number": number.to_string()}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = verify_push(app, &mfa_token, &id).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_step_up_is_approved_the_same_way_and_the_approver_is_told_what_for() {
    let app = push_app().await;
    let email = "push-stepup@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let b = signed_in_by_push(&app, email, &a, &method_id).await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            &b,
            Some(json!({"action": "billing.refund"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["satisfied"], false, "{started}");
    let challenge_token = started["challenge_token"].as_str().unwrap();
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/challenge",
            &b,
            Some(json!({"challenge_token": challenge_token, "method_id": method_id})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let sent: Value = r.json().await.unwrap();
    let id = sent["approval_id"].as_str().unwrap();
    let list = listed(&app, &a).await;
    assert_eq!(list[0]["purpose"], "step_up");
    assert_eq!(list[0]["action"], "billing.refund");
    let verify = || {
        app.send_auth(
            Method::POST,
            "/v1/step-up/verify",
            &b,
            Some(json!({"challenge_token": challenge_token, "type": "push", "approval_id": id})),
        )
    };
    assert_problem(verify().await, 400, "authorization_pending").await;
    let number = sent["number"].as_u64().unwrap().to_string();
    let r = answer(
        &app,
        &a,
        id,
        json!({"decision": "approve", "number": number}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = verify().await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["satisfied"], true);
}

#[tokio::test]
async fn the_approver_session_cannot_approve_its_own_step_up() {
    // a stolen approver session would otherwise prove itself with the number it is shown
    let app = push_app().await;
    let email = "push-self@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            &a,
            Some(json!({"action": "billing.refund"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["satisfied"], false, "{started}");
    let offered: Vec<&str> = started["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(!offered.contains(&method_id.as_str()), "{started}");
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/challenge",
            &a,
            Some(json!({"challenge_token": started["challenge_token"], "method_id": method_id})),
        )
        .await;
    assert_problem(r, 403, "factor_not_allowed").await;
    assert!(listed(&app, &a).await.is_empty(), "no prompt was made");
}

#[tokio::test]
async fn an_unanswered_request_expires_and_frees_the_place() {
    let app = push_app().await;
    let email = "push-expiry@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let (mfa_token, id, _) = requested(&app, email, &method_id).await;
    // another sign-in meanwhile: one prompt at a time
    let (_, r) = push_sign_in(&app, email, &method_id).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_problem(r, 429, "too_many_attempts").await;
    app.advance(time::Duration::seconds(121));
    assert!(listed(&app, &a).await.is_empty());
    assert_problem(
        verify_push(&app, &mfa_token, &id).await,
        401,
        "mfa_token_invalid",
    )
    .await;
    let number = answer(
        &app,
        &a,
        &id,
        json!({"decision": "approve", "number": "42"}),
    )
    .await;
    assert_problem(number, 404, "not_found").await;
    // the place is free again
    let (_, _, _) = requested(&app, email, &method_id).await;
}

#[tokio::test]
async fn requests_per_window_are_bounded() {
    let app = spawn_app_with(manual(), |c| {
        allow_push(c);
        c.mfa.push_requests_per_window = 2;
        c.mfa.push_window_seconds = 600;
    })
    .await;
    let email = "push-rate@example.com";
    let (_a, method_id) = approver(&app, email, json!({})).await;
    for _ in 0..2 {
        requested(&app, email, &method_id).await;
        app.advance(time::Duration::seconds(121));
    }
    let (_, r) = push_sign_in(&app, email, &method_id).await;
    assert_problem(r, 429, "too_many_attempts").await;
    app.advance(time::Duration::seconds(600));
    requested(&app, email, &method_id).await;
}

#[tokio::test]
async fn a_signed_out_approver_can_no_longer_be_asked() {
    let app = push_app().await;
    let email = "push-gone@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let r = app.send_auth(Method::POST, "/v1/logout", &a, None).await;
    assert_eq!(r.status(), 204);
    let (_, r) = push_sign_in(&app, email, &method_id).await;
    assert_problem(r, 403, "factor_not_allowed").await;
}

#[tokio::test]
async fn push_is_refused_where_policy_does_not_allow_it() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let access = app.access_token("push-off@example.com").await;
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/push", &access, Some(json!({})))
        .await;
    assert_problem(r, 403, "factor_not_allowed").await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/push",
            &access,
            Some(json!({"push_token": ""})),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/approvals/not-a-uuid",
            &access,
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .send_auth(
            Method::POST,
            &format!("/v1/me/approvals/{}", uuid::Uuid::new_v4()),
            &access,
            Some(json!({"decision": "maybe"})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

/// The text after `marker` up to the next `"` or `<`.
fn html_value<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {body}"))
        + marker.len();
    let rest = &body[start..];
    &rest[..rest.find(['"', '<']).unwrap()]
}

#[tokio::test]
async fn on_the_pages_a_browser_approves_another_browsers_sign_in() {
    use crate::browser::Browser;
    let app = push_app().await;
    let email = "push-pages@example.com";
    app.sign_up(email).await;
    app.mark_email_verified(email).await;
    // the approving browser enrols itself
    let mut approver = Browser::new();
    let (status, _, _) = approver.sign_in(&app, email).await;
    assert_eq!(status, 303);
    let (status, _, body) = approver.get(&app, "/account/mfa/new").await;
    assert_eq!(status, 200);
    assert!(body.contains("Approve on this browser"));
    let (status, _, body) = approver.post(&app, "/account/mfa/push", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("recovery") || body.contains("Recovery"),
        "{body}"
    );
    // another browser signs in and asks for the approval
    let mut waiting = Browser::new();
    let (status, _, _) = waiting.sign_in(&app, email).await;
    assert_eq!(status, 303);
    let (status, _, body) = waiting.get(&app, "/sign-in/verify").await;
    assert_eq!(status, 200);
    assert!(body.contains("Approve on my other device"), "{body}");
    let method_id = html_value(&body, "name=\"method_id\" value=\"").to_owned();
    let (status, _, body) = waiting
        .post(&app, "/sign-in/send", &[("method_id", &method_id)])
        .await;
    assert_eq!(status, 200, "{body}");
    let number = html_value(
        &body,
        "id=\"push-number\" aria-labelledby=\"push-number-label\">",
    )
    .to_owned();
    let approval_id = html_value(&body, "name=\"code\" value=\"").to_owned();
    assert!(body.contains("data-push-poll"));
    // not approved yet: the same number again
    let form = [
        ("method_id", method_id.as_str()),
        ("code", approval_id.as_str()),
        ("push_number", number.as_str()),
    ];
    let (status, _, body) = waiting.post(&app, "/sign-in/verify", &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&number));
    // the approving browser's script finds it, without the number, and approves
    let (status, _, body) = approver.get(&app, "/account/approvals").await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"][0]["id"], approval_id.as_str());
    assert!(list["items"][0].get("number").is_none());
    let path = format!("/account/approvals/{approval_id}");
    let (status, _, _) = approver
        .post(&app, &path, &[("decision", "approve"), ("number", &number)])
        .await;
    assert_eq!(status, 204);
    let (status, headers, _) = waiting.post(&app, "/sign-in/verify", &form).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/account");
}

#[tokio::test]
async fn a_password_reset_takes_an_approval_as_its_second_factor() {
    let mut app = push_app().await;
    let email = "push-reset@example.com";
    let (a, method_id) = approver(&app, email, json!({})).await;
    let reset = app.reset_token(email).await;
    let reset_token = reset["reset_token"].as_str().unwrap();
    assert_eq!(reset["mfa_required"], true);
    let r = app
        .post(
            "/v1/password-reset/challenge",
            json!({"reset_token": reset_token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let sent: Value = r.json().await.unwrap();
    let id = sent["approval_id"].as_str().unwrap();
    assert_eq!(listed(&app, &a).await[0]["purpose"], "password_reset");
    let number = sent["number"].as_u64().unwrap().to_string();
    let r = answer(
        &app,
        &a,
        id,
        json!({"decision": "approve", "number": number}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset_token, "new_password": "a new and long enough passphrase", "type": "push", "approval_id": id}),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_push_token_is_sealed_and_survives_a_master_key_rotation() {
    let app = push_app().await;
    let email = "push-rotate@example.com";
    let (_a, method_id) = approver(&app, email, json!({"push_token": "device-token-rotate"})).await;
    let store = deadbolt_store::Store::open(&app.config.database.url, 2).unwrap();
    let sealed = store.all_push_tokens().await.unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(
        !sealed[0].3.windows(6).any(|w| w == b"device"),
        "the push token is not stored in the clear"
    );
    let file = &app.config.secrets.master_key_file;
    let report =
        deadbolt_usecases::rotation::rotate(&store, file, &deadbolt_usecases::system::OsRandom)
            .await
            .unwrap();
    assert_eq!(report.push_tokens, 1);
    deadbolt_usecases::rotation::prune(&store, file)
        .await
        .unwrap();
    // the request opens the token under the new key
    requested(&app, email, &method_id).await;
}

#[tokio::test]
async fn the_pages_asking_for_approvals_do_not_keep_an_idle_session_alive() {
    use crate::browser::Browser;
    let app = push_app().await;
    let email = "push-idle@example.com";
    app.sign_up(email).await;
    app.mark_email_verified(email).await;
    let mut b = Browser::new();
    assert_eq!(b.sign_in(&app, email).await.0, 303);
    let store = deadbolt_store::Store::open(&app.config.database.url, 1).unwrap();
    let account = store
        .account_by_email(&deadbolt_core::email::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let last_active = |store: deadbolt_store::Store| async move {
        store.unrevoked_sessions(account.id).await.unwrap()[0].last_active_at
    };
    let before = last_active(store.clone()).await;
    app.advance(time::Duration::minutes(5));
    let (status, _, body) = b.get(&app, "/account/approvals").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        last_active(store.clone()).await,
        before,
        "a poll is no visit"
    );
    let (status, _, _) = b.get(&app, "/account").await;
    assert_eq!(status, 200);
    assert!(
        last_active(store.clone()).await > before,
        "a page view is one"
    );
}
