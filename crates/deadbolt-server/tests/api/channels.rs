//! Codes we send as second factors (email, SMS, voice), the providers that carry them (a signed
//! webhook and Twilio's API, received by a local HTTP server), phone verification, changing
//! email and phone, and the notices around them.

use crate::helpers::*;
use crate::phone_receiver::PhoneReceiver;
use deadbolt_server::Config;
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

const SECRET: &str = "a-webhook-secret-of-at-least-32-characters";
const PHONE: &str = "+12015550123";

/// SMS and voice through a signed webhook on `port`, allowed by policy.
fn webhook_on(port: u16) -> impl FnOnce(&mut Config) {
    move |c| {
        c.sms.provider = "webhook".into();
        c.sms.webhook_url = format!("http://127.0.0.1:{port}/sms");
        c.sms.webhook_secret = SECRET.into();
        c.mfa.allowed_methods.extend(["sms".into(), "voice".into()]);
    }
}

/// A server sending SMS and voice through a signed webhook to a receiver of its own.
async fn with_webhook(
    options: Options,
    configure: impl FnOnce(&mut Config),
) -> (TestApp, PhoneReceiver) {
    let (port, listener) = PhoneReceiver::reserve();
    let app = spawn_app_with(options, |c| {
        webhook_on(port)(c);
        configure(c);
    })
    .await;
    let phone = PhoneReceiver::webhook_on(listener, SECRET, &app).await;
    (app, phone)
}

/// The `method_id` of an enrolment's answer.
async fn method_id_of(r: reqwest::Response) -> String {
    r.json::<Value>().await.unwrap()["method_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// SMS and voice through Twilio's API on `port`, allowed by policy.
fn twilio_on(port: u16) -> impl FnOnce(&mut Config) {
    move |c| {
        c.sms.provider = "twilio".into();
        c.sms.twilio_base_url = format!("http://127.0.0.1:{port}");
        c.sms.twilio_account_sid = crate::phone_receiver::TWILIO_SID.into();
        c.sms.twilio_auth_token = crate::phone_receiver::TWILIO_TOKEN.into();
        c.sms.twilio_from = "+15005550006".into();
        c.mfa.allowed_methods.extend(["sms".into(), "voice".into()]);
    }
}

async fn post_auth(app: &TestApp, path: &str, access: &str, body: Value) -> reqwest::Response {
    app.send_auth(Method::POST, path, access, Some(body)).await
}

/// Enrolls a method whose code we send and confirms it with `code_of(sent)`: the confirmation.
async fn confirm(app: &TestApp, access: &str, method_id: &str, code: &str) -> reqwest::Response {
    post_auth(
        app,
        &format!("/v1/me/mfa/{method_id}/confirm"),
        access,
        json!({"code": code}),
    )
    .await
}

fn other_than(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

async fn login_challenge(app: &TestApp, token: &str, method_id: &str) -> reqwest::Response {
    app.post(
        "/v1/login/mfa/challenge",
        json!({"mfa_token": token, "method_id": method_id}),
    )
    .await
}

async fn login_verify(app: &TestApp, token: &str, kind: &str, code: &str) -> reqwest::Response {
    app.post(
        "/v1/login/mfa/verify",
        json!({"mfa_token": token, "type": kind, "code": code}),
    )
    .await
}

async fn login_as(app: &TestApp, agent: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/login"))
        .header("user-agent", agent)
        .json(&json!({"email": "devices@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// A login's second step: mfa_token and the offered methods.
async fn second_step(app: &TestApp, email: &str) -> (String, Vec<Value>) {
    let r = app.login(email, PASSWORD).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    (
        body["mfa_token"].as_str().unwrap().to_owned(),
        body["methods"].as_array().unwrap().clone(),
    )
}

#[tokio::test]
async fn sms_codes_through_a_signed_webhook_enroll_and_sign_in() {
    let (app, mut phone) = with_webhook(Options::default(), |_| {}).await;
    let tokens = app.signed_in("sms@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();

    let r = post_auth(&app, "/v1/me/mfa/sms", access, json!({"phone": PHONE})).await;
    assert_eq!(r.status(), 201);
    let enrolled: Value = r.json().await.unwrap();
    assert_eq!(enrolled["sent_to"], "+*******0123");
    assert!(
        enrolled["restricted_notice"]
            .as_str()
            .unwrap()
            .contains("restricted"),
        "the user is told SMS is a restricted authenticator: {enrolled}"
    );
    let method_id = enrolled["method_id"].as_str().unwrap();
    let sent = phone.next().await;
    assert_eq!((sent.to.as_str(), sent.channel.as_str()), (PHONE, "sms"));
    assert!(sent.message_id.is_some());
    let code = sent.code();
    // not on until the code comes back
    let me: Value = app.get_auth("/v1/me", access).await.json().await.unwrap();
    assert_eq!(me["mfa_enabled"], false);
    let r = confirm(&app, access, method_id, other_than(&code)).await;
    assert_problem(r, 400, "invalid_code").await;
    let r = confirm(&app, access, method_id, &code).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"]["type"], "sms");
    assert_eq!(body["method"]["restricted"], true);
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);

    let (mfa_token, methods) = second_step(&app, "sms@example.com").await;
    assert_eq!(methods[0]["type"], "sms");
    assert_eq!(methods[0]["hint"], "+*******0123");
    assert_eq!(methods[0]["primary"], true);
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let challenge: Value = r.json().await.unwrap();
    assert_eq!(challenge["sent_to"], "+*******0123");
    assert_eq!(challenge["resend_after"], 60);
    let code = phone.next().await.code();
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "sms", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let signed_in: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, signed_in["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "sms", "mfa"]));
    assert_eq!(claims["acr"], "aal2");
    // the code was spent with the login
    let (again, _) = second_step(&app, "sms@example.com").await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": again, "type": "sms", "code": code}),
        )
        .await;
    assert_problem(r, 401, "invalid_code").await;
    assert_eq!(phone.bad_signatures(), 0);
}

#[tokio::test]
async fn voice_and_sms_codes_through_twilio() {
    let (port, listener) = PhoneReceiver::reserve();
    let app = spawn_app_with(manual(), twilio_on(port)).await;
    let mut twilio = PhoneReceiver::twilio(listener, &app).await;
    let tokens = app.signed_in("voice@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = post_auth(&app, "/v1/me/mfa/voice", access, json!({"phone": PHONE})).await;
    assert_eq!(r.status(), 201);
    let method_id = method_id_of(r).await;
    let call = twilio.next().await;
    assert_eq!((call.to.as_str(), call.channel.as_str()), (PHONE, "voice"));
    assert!(call.body.starts_with("<Response><Say>"), "{}", call.body);
    let code = call.code();
    assert_eq!(
        call.body
            .matches(
                &code
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .count(),
        4,
        "the code is read out digit by digit, twice in each of the two <Say>s: {}",
        call.body
    );
    assert_eq!(confirm(&app, access, &method_id, &code).await.status(), 200);

    let (mfa_token, _) = second_step(&app, "voice@example.com").await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let code = twilio.next().await.code();
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "voice", "method_id": method_id, "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "tel", "mfa"]));
}

#[tokio::test]
async fn restricted_methods_need_the_policy_and_a_provider() {
    // by default neither SMS nor voice is allowed (NIST SP 800-63B: restricted)
    let app = spawn_app().await;
    let access = app.access_token("nosms@example.com").await;
    for kind in ["sms", "voice"] {
        let r = post_auth(
            &app,
            &format!("/v1/me/mfa/{kind}"),
            &access,
            json!({"phone": PHONE}),
        )
        .await;
        let body = assert_problem(r, 403, "factor_not_allowed").await;
        assert!(
            body["detail"].as_str().unwrap().contains("restricted"),
            "{body}"
        );
    }
    // allowed by policy, but nothing can send them
    let app = spawn_app_with(Options::default(), |c| {
        c.mfa.allowed_methods.push("sms".into());
    })
    .await;
    let access = app.access_token("noprovider@example.com").await;
    let r = post_auth(&app, "/v1/me/mfa/sms", &access, json!({"phone": PHONE})).await;
    assert_problem(r, 403, "factor_not_allowed").await;
    let r = post_auth(
        &app,
        "/v1/me/mfa/sms",
        &access,
        json!({"phone": "12015550123"}),
    )
    .await;
    assert_problem(r, 400, "invalid_phone").await;
}

#[tokio::test]
async fn email_codes_are_a_second_factor_bound_to_their_challenge() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = verified_account(&mut app, "mail2fa@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = post_auth(&app, "/v1/me/mfa/email", access, json!({})).await;
    assert_eq!(r.status(), 201);
    let enrolled: Value = r.json().await.unwrap();
    assert_eq!(enrolled["sent_to"], "m***@example.com");
    assert!(enrolled.get("restricted_notice").is_none());
    let method_id = enrolled["method_id"].as_str().unwrap().to_owned();
    let mail = app.next_mail().await;
    assert_eq!(mail.subject, "Confirm your new sign-in method");
    assert_eq!(
        confirm(&app, access, &method_id, &mail.code())
            .await
            .status(),
        200
    );
    assert_eq!(app.next_mail().await.subject, "Two-step sign-in is on");

    let (first, methods) = second_step(&app, "mail2fa@example.com").await;
    assert_eq!(methods[0]["hint"], "m***@example.com");
    assert_eq!(
        login_challenge(&app, &first, &method_id).await.status(),
        202
    );
    let first_code = app.next_mail().await;
    assert_eq!(first_code.subject, "Your sign-in code");
    let first_code = first_code.code();
    // too soon for another
    let r = login_challenge(&app, &first, &method_id).await;
    assert_eq!(r.headers()["retry-after"], "60");
    assert_problem(r, 429, "resend_too_soon").await;
    // a code sent for one login serves no other
    app.advance(Duration::seconds(61));
    let (second, _) = second_step(&app, "mail2fa@example.com").await;
    assert_eq!(
        login_challenge(&app, &second, &method_id).await.status(),
        202
    );
    let second_code = app.next_mail().await.code();
    if first_code != second_code {
        let r = login_verify(&app, &second, "email", &first_code).await;
        assert_problem(r, 401, "invalid_code").await;
    }
    let r = login_verify(&app, &second, "email", &second_code).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    // and the first login's code still works for the first login only
    assert_eq!(
        login_verify(&app, &first, "email", &first_code)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn wrong_sent_codes_count_against_the_token_and_the_code() {
    let (app, mut phone) = with_webhook(Options::default(), |_| {}).await;
    let access = app.access_token("guess@example.com").await;
    let r = post_auth(&app, "/v1/me/mfa/sms", &access, json!({})).await;
    assert_problem(r, 400, "invalid_request").await;
    let r = post_auth(&app, "/v1/me/mfa/sms", &access, json!({"phone": PHONE})).await;
    let method_id = method_id_of(r).await;
    let code = phone.next().await.code();
    assert_eq!(
        confirm(&app, &access, &method_id, &code).await.status(),
        200
    );

    let (mfa_token, _) = second_step(&app, "guess@example.com").await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let code = phone.next().await.code();
    let wrong = other_than(&code);
    for remaining in (0..5).rev() {
        let r = app
            .post(
                "/v1/login/mfa/verify",
                json!({"mfa_token": mfa_token, "type": "sms", "code": wrong}),
            )
            .await;
        let body = assert_problem(r, 401, "invalid_code").await;
        assert_eq!(body["attempts_remaining"], remaining);
    }
    // the token is dead, right code or not
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "sms", "code": code}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    // TOTP-style submissions and unknown methods are refused plainly
    let (fresh, _) = second_step(&app, "guess@example.com").await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": fresh, "method_id": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let events: Value = app
        .get_auth("/v1/me/events?limit=100", &access)
        .await
        .json()
        .await
        .unwrap();
    let failures = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "mfa_challenge_failed" && e["detail"]["type"] == "sms")
        .count();
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn hourly_caps_per_destination_stop_sms_pumping() {
    let (app, mut phone) = with_webhook(manual(), |c| {
        c.codes.resend_after_seconds = 1;
        c.codes.max_per_hour_per_destination = 3;
    })
    .await;
    let access = app.access_token("pump@example.com").await;
    let r = post_auth(&app, "/v1/me/mfa/sms", &access, json!({"phone": PHONE})).await;
    let method_id = method_id_of(r).await;
    phone.next().await;
    let resend_path = format!("/v1/me/mfa/{method_id}/resend");
    let resend = || app.send_auth(Method::POST, &resend_path, &access, None);
    let r = resend().await;
    assert_problem(r, 429, "resend_too_soon").await;
    for _ in 0..2 {
        app.advance(Duration::seconds(2));
        let r = resend().await;
        assert_eq!(r.status(), 202);
        phone.next().await;
    }
    // three to this number within the hour: the fourth waits for the hour to pass
    app.advance(Duration::seconds(2));
    let r = resend().await;
    let retry_after: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert_problem(r, 429, "too_many_attempts").await;
    // another account cannot pump the same number either
    let other = app.access_token("pump2@example.com").await;
    let r = post_auth(&app, "/v1/me/mfa/sms", &other, json!({"phone": PHONE})).await;
    assert_problem(r, 429, "too_many_attempts").await;
    assert!(
        phone.next_within(1).await.is_none(),
        "nothing more was sent"
    );
    app.advance(Duration::hours(1));
    let fresh: Value = app
        .login("pump@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();
    let r = app.send_auth(Method::POST, &resend_path, fresh, None).await;
    assert_eq!(r.status(), 202);
    phone.next().await;
}

#[tokio::test]
async fn a_phone_given_at_sign_up_is_verified_by_text() {
    let (mut app, mut phone) = with_webhook(Options::default(), |_| {}).await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "withphone@example.com", "password": PASSWORD, "phone": PHONE}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["phone"].as_str(), &body["phone_verified"]),
        (Some(PHONE), &json!(false))
    );
    let text = phone.next().await;
    assert_eq!(text.to, PHONE);
    assert!(text.body.contains("verification code"), "{}", text.body);
    let code = text.code();
    assert_eq!(app.next_mail().await.subject, "Verify your email address");
    let verify = |code: &str| {
        app.post(
            "/v1/accounts/verify",
            json!({"email": "withphone@example.com", "channel": "sms", "code": code}),
        )
    };
    assert_problem(verify(other_than(&code)).await, 400, "invalid_code").await;
    let r = verify(&code).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"email_verified": false, "phone_verified": true})
    );
    // a verified phone gets no more codes; an unknown email answers the same
    for email in ["withphone@example.com", "nobody@example.com"] {
        let r = app
            .post(
                "/v1/accounts/verify/resend",
                json!({"email": email, "channel": "sms"}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    assert!(phone.next_within(2).await.is_none());
}

#[tokio::test]
async fn an_sms_accepted_during_an_outage_is_delivered_once_when_it_ends() {
    let port = free_port();
    let app = spawn_app_with(Options::default(), webhook_on(port)).await;
    // the provider is down: the sign-up is still accepted
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "outage@example.com", "password": PASSWORD, "phone": PHONE}),
        )
        .await;
    assert_eq!(r.status(), 201);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut phone = PhoneReceiver::webhook(port, SECRET, &app).await;
    let first = phone.next().await;
    assert_eq!(first.to, PHONE);
    // not handed over twice once acknowledged
    assert!(phone.next_within(4).await.is_none());
    // and the code it carried works
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": "outage@example.com", "channel": "sms", "code": first.code()}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_provider_that_refuses_a_message_leaves_a_dead_letter_admins_see() {
    let (app, mut phone) = with_webhook(manual(), |_| {}).await;
    phone.answer(400);
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "dead@example.com", "password": PASSWORD, "phone": PHONE}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (admin, _) = admin_signed_in(&app, "root@example.com").await;
    let mut dead = Value::Null;
    for _ in 0..50 {
        let r = app.get_auth("/v1/admin/outbox/dead", &admin).await;
        assert_eq!(r.status(), 200);
        dead = r.json().await.unwrap();
        if !dead["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{dead}");
    assert_eq!(items[0]["channel"], "sms");
    assert_eq!(items[0]["recipient"], PHONE);
    assert_eq!(
        items[0]["attempts"], 1,
        "a permanent refusal is not retried"
    );
    assert!(items[0]["last_error"].as_str().unwrap().contains("400"));
    assert!(items[0].get("body").is_none() && items[0].get("body_text").is_none());
    // only administrators who signed in with a second factor see it
    let user = app.access_token("curious@example.com").await;
    let r = app.get_auth("/v1/admin/outbox/dead", &user).await;
    assert_problem(r, 403, "forbidden").await;
    let r = app.login("root@example.com", PASSWORD).await;
    assert_eq!(r.json::<Value>().await.unwrap()["mfa_required"], true);
    // an administrator puts it back once the provider is fixed
    phone.answer(0);
    let path = format!(
        "/v1/admin/outbox/{}/retry",
        items[0]["id"].as_str().unwrap()
    );
    let r = app.send_auth(Method::POST, &path, &admin, None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(phone.next().await.to, PHONE);
    let r = app.send_auth(Method::POST, &path, &admin, None).await;
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn changing_the_email_needs_a_step_up_and_the_new_address() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("old@example.com").await;
    let code = app.next_mail().await.code();
    app.post(
        "/v1/accounts/verify",
        json!({"email": "old@example.com", "channel": "email", "code": code}),
    )
    .await;
    while app.next_mail_within(1).await.is_some() {}
    // a reset code on its way to the old address...
    app.post("/v1/password-reset", json!({"email": "old@example.com"}))
        .await;
    let old_reset_code = app.next_mail().await.code();
    let r = post_auth(
        &app,
        "/v1/me/email",
        &user.access,
        json!({"email": "new@example.com"}),
    )
    .await;
    let body = assert_problem(r, 401, "insufficient_user_authentication").await;
    assert_eq!(body["action"], "email.change");
    app.step_up_totp(&user.access, "email.change", &user.secret)
        .await;
    // taken addresses and the same address are refused before anything is sent
    app.sign_up("taken@example.com").await;
    app.next_mail().await;
    assert_problem(
        post_auth(
            &app,
            "/v1/me/email",
            &user.access,
            json!({"email": "taken@example.com"}),
        )
        .await,
        409,
        "email_taken",
    )
    .await;
    assert_problem(
        post_auth(
            &app,
            "/v1/me/email",
            &user.access,
            json!({"email": "not an email"}),
        )
        .await,
        400,
        "invalid_email",
    )
    .await;
    let r = post_auth(
        &app,
        "/v1/me/email",
        &user.access,
        json!({"email": "new@example.com"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap()["sent_to"],
        "n***@example.com"
    );
    let mail = app.next_mail().await;
    assert_eq!(mail.to, ["new@example.com"]);
    assert_eq!(mail.subject, "Confirm your new email address");
    let code = mail.code();
    assert_problem(
        post_auth(
            &app,
            "/v1/me/email/verify",
            &user.access,
            json!({"code": other_than(&code)}),
        )
        .await,
        400,
        "invalid_code",
    )
    .await;
    // nothing changed yet
    let me: Value = app
        .get_auth("/v1/me", &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "old@example.com");
    let r = post_auth(
        &app,
        "/v1/me/email/verify",
        &user.access,
        json!({"code": code}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["email"].as_str(), &me["email_verified"]),
        (Some("new@example.com"), &json!(true))
    );
    let notice = app.next_mail().await;
    assert_eq!(notice.to, ["old@example.com"], "the old address is told");
    assert_eq!(notice.subject, "Your email address was changed");
    assert!(notice.html.unwrap().contains("<html"));
    // the code is spent; the step-up was one-shot
    assert_problem(
        post_auth(
            &app,
            "/v1/me/email/verify",
            &user.access,
            json!({"code": code}),
        )
        .await,
        400,
        "invalid_code",
    )
    .await;
    assert_problem(
        post_auth(
            &app,
            "/v1/me/email",
            &user.access,
            json!({"email": "newer@example.com"}),
        )
        .await,
        401,
        "insufficient_user_authentication",
    )
    .await;
    // ...stops working once the address changed
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "new@example.com", "code": old_reset_code}),
        )
        .await;
    assert_problem(r, 400, "invalid_code").await;
    // the new address signs in; the old one does not
    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("new@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn changing_the_phone_proves_the_new_number_and_tells_the_old_one() {
    let (mut app, mut phone) = with_webhook(Options::default(), |_| {}).await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "phone@example.com", "password": PASSWORD, "phone": PHONE}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let code = phone.next().await.code();
    app.post(
        "/v1/accounts/verify",
        json!({"email": "phone@example.com", "channel": "sms", "code": code}),
    )
    .await;
    app.next_mail().await;
    let access = app
        .login("phone@example.com", PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_phone = "+447700900123";
    let change = || post_auth(&app, "/v1/me/phone", &access, json!({"phone": new_phone}));
    assert_problem(change().await, 401, "insufficient_user_authentication").await;
    // without MFA the step-up is the password
    let begin: Value = post_auth(
        &app,
        "/v1/step-up",
        &access,
        json!({"action": "phone.change"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let r = post_auth(
        &app,
        "/v1/step-up/verify",
        &access,
        json!({"challenge_token": begin["challenge_token"], "type": "password", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(change().await.status(), 202);
    let text = phone.next().await;
    assert_eq!(text.to, new_phone);
    let r = post_auth(
        &app,
        "/v1/me/phone/verify",
        &access,
        json!({"code": text.code()}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["phone"].as_str(), &me["phone_verified"]),
        (Some(new_phone), &json!(true))
    );
    let told = phone.next().await;
    assert_eq!(told.to, PHONE, "the old number is told");
    assert!(told.body.contains("phone number"), "{}", told.body);
    assert_eq!(
        app.next_mail().await.subject,
        "Your phone number was changed"
    );
}

#[tokio::test]
async fn a_reset_does_not_take_the_email_that_carried_its_code_as_second_factor() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = verified_account(&mut app, "resetmail@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = post_auth(&app, "/v1/me/mfa/email", access, json!({})).await;
    let method_id = method_id_of(r).await;
    let code = app.next_mail().await.code();
    let r = confirm(&app, access, &method_id, &code).await;
    let recovery: Vec<String> = r.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    while app.next_mail_within(1).await.is_some() {}
    app.post(
        "/v1/password-reset",
        json!({"email": "resetmail@example.com"}),
    )
    .await;
    let code = app.next_mail().await.code();
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "resetmail@example.com", "code": code}),
        )
        .await;
    let started: Value = r.json().await.unwrap();
    assert_eq!(started["mfa_required"], true);
    let offered: Vec<&str> = started["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["recovery_code"], "the email is not offered");
    let reset_token = started["reset_token"].as_str().unwrap();
    let r = app
        .post(
            "/v1/password-reset/challenge",
            json!({"reset_token": reset_token, "method_id": method_id}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset_token, "new_password": "a brand new passphrase here", "type": "email", "code": "123456"}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset_token, "new_password": "a brand new passphrase here", "type": "recovery_code", "code": recovery[0]}),
        )
        .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_told() {
    let mut app = spawn_app().await;
    verified_account(&mut app, "devices@example.com").await;
    // the sign-in right after sign-up was the first device; signing in there again is quiet
    assert_eq!(login_as(&app, "deadbolt-tests/1.0").await.status(), 200);
    assert!(app.next_mail_within(2).await.is_none());
    let hostile = "Firefox/133 (Linux) <b>Call +1 555 0100 to keep your account</b>";
    assert_eq!(login_as(&app, hostile).await.status(), 200);
    let mail = app.next_mail().await;
    assert_eq!(mail.subject, "New sign-in to your account");
    // described in the service's own words; nothing the client wrote reaches the owner
    assert!(
        mail.text.contains("Device: Firefox on Linux"),
        "{}",
        mail.text
    );
    let html = mail.html.unwrap();
    assert!(
        !mail.text.contains("555") && !html.contains("555") && !html.contains("<b>"),
        "{html}"
    );
    // once seen, it is known
    assert_eq!(login_as(&app, hostile).await.status(), 200);
    assert!(app.next_mail_within(2).await.is_none());
    let access = app
        .login("devices@example.com", PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let events: Value = app
        .get_auth("/v1/me/events", &access)
        .await
        .json()
        .await
        .unwrap();
    let told = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "new_device_sign_in")
        .count();
    assert_eq!(told, 1);
}

#[tokio::test]
async fn a_method_planted_while_mfa_was_off_needs_a_step_up_to_be_confirmed() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = verified_account(&mut app, "planted@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    // an attacker's TOTP enrolment, left pending while MFA is off
    let planted: Value = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", access, None)
        .await
        .json()
        .await
        .unwrap();
    // the owner turns MFA on with an email code
    let r = post_auth(&app, "/v1/me/mfa/email", access, json!({})).await;
    let method_id = method_id_of(r).await;
    let code = app.next_mail().await.code();
    assert_eq!(confirm(&app, access, &method_id, &code).await.status(), 200);
    let r = confirm(
        &app,
        access,
        planted["method_id"].as_str().unwrap(),
        &app.code(planted["secret"].as_str().unwrap()),
    )
    .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
}

#[tokio::test]
async fn parallel_sends_cannot_slip_past_the_resend_wait() {
    let (app, mut phone) = with_webhook(manual(), |_| {}).await;
    let access = app.access_token("race@example.com").await;
    let r = post_auth(&app, "/v1/me/mfa/sms", &access, json!({"phone": PHONE})).await;
    let method_id = method_id_of(r).await;
    phone.next().await;
    app.advance(Duration::seconds(61));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url(&format!("/v1/me/mfa/{method_id}/resend"));
            let access = access.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let r = client.post(url).bearer_auth(access).send().await.unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        9,
        "{statuses:?}"
    );
    phone.next().await;
    assert!(phone.next_within(2).await.is_none(), "one text, not ten");
}

#[tokio::test]
async fn codes_strangers_can_trigger_do_not_use_up_the_second_factors_budget() {
    let mut app = spawn_app_with(manual(), |c| {
        c.codes.resend_after_seconds = 1;
        c.codes.max_per_hour_per_destination = 2;
    })
    .await;
    let tokens = verified_account(&mut app, "budget@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = post_auth(&app, "/v1/me/mfa/email", access, json!({})).await;
    let method_id = method_id_of(r).await;
    let code = app.next_mail().await.code();
    assert_eq!(confirm(&app, access, &method_id, &code).await.status(), 200);
    app.next_mail().await;
    // a stranger asks for password resets until the cap for this address is reached
    for _ in 0..4 {
        app.advance(Duration::seconds(2));
        app.post("/v1/password-reset", json!({"email": "budget@example.com"}))
            .await;
    }
    let mut resets = 0;
    while let Some(mail) = app.next_mail_within(2).await {
        assert_eq!(mail.subject, "Reset your password");
        resets += 1;
    }
    // the sign-up's verification code was the first of the two this address may get
    assert_eq!(resets, 1, "capped per destination");
    // the owner's sign-in codes have a budget of their own
    app.advance(Duration::seconds(2));
    let (mfa_token, _) = second_step(&app, "budget@example.com").await;
    assert_eq!(
        login_challenge(&app, &mfa_token, &method_id).await.status(),
        202
    );
    let code = app.next_mail().await.code();
    assert_eq!(
        login_verify(&app, &mfa_token, "email", &code)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn two_methods_confirmed_at_once_turn_mfa_on_once() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let tokens = verified_account(&mut app, "twice@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let totp: Value = app
        .send_auth(Method::POST, "/v1/me/mfa/totp", &access, None)
        .await
        .json()
        .await
        .unwrap();
    let r = post_auth(&app, "/v1/me/mfa/email", &access, json!({})).await;
    let email_method = method_id_of(r).await;
    let email_code = app.next_mail().await.code();
    let totp_code = app.code(totp["secret"].as_str().unwrap());
    let attempts = [
        (totp["method_id"].as_str().unwrap().to_owned(), totp_code),
        (email_method, email_code),
    ];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(id, code)| {
            let client = app.client.clone();
            let url = app.url(&format!("/v1/me/mfa/{id}/confirm"));
            let access = access.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let r = client
                    .post(url)
                    .bearer_auth(access)
                    .json(&json!({"code": code}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut turned_on = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 200 && body["recovery_codes"].is_array() {
            turned_on += 1;
        }
    }
    assert_eq!(turned_on, 1, "one set of recovery codes, shown once");
    let mfa: Value = app
        .get_auth("/v1/me/mfa", &access)
        .await
        .json()
        .await
        .unwrap();
    let recovery_rows = mfa["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "recovery_code")
        .count();
    assert_eq!(recovery_rows, 1);
    assert_eq!(mfa["recovery_codes_remaining"], 10);
}

#[tokio::test]
async fn hourly_caps_per_account_hold_across_numbers() {
    let (app, mut phone) = with_webhook(manual(), |c| {
        c.codes.resend_after_seconds = 1;
        c.codes.max_per_hour_per_account = 2;
    })
    .await;
    let access = app.access_token("many@example.com").await;
    for number in ["+12015550101", "+12015550102"] {
        let r = post_auth(&app, "/v1/me/mfa/sms", &access, json!({"phone": number})).await;
        assert_eq!(r.status(), 201);
        assert_eq!(phone.next().await.to, number);
        app.advance(Duration::seconds(2));
    }
    let r = post_auth(
        &app,
        "/v1/me/mfa/sms",
        &access,
        json!({"phone": "+12015550103"}),
    )
    .await;
    assert_problem(r, 429, "too_many_attempts").await;
    assert!(phone.next_within(1).await.is_none());
}

#[tokio::test]
async fn texted_codes_do_not_step_up_mfa_management_when_an_app_is_enrolled() {
    let (app, mut phone) = with_webhook(manual(), |_| {}).await;
    let user = app.enrolled("strong@example.com").await;
    app.step_up_totp(&user.access, "mfa.manage", &user.secret)
        .await;
    let r = post_auth(
        &app,
        "/v1/me/mfa/sms",
        &user.access,
        json!({"phone": PHONE}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let sms_id = method_id_of(r).await;
    let code = phone.next().await.code();
    assert_eq!(
        confirm(&app, &user.access, &sms_id, &code).await.status(),
        200
    );

    // mfa.manage: the SMS method is neither offered, nor sent, nor accepted
    let begin: Value = post_auth(
        &app,
        "/v1/step-up",
        &user.access,
        json!({"action": "mfa.manage"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let offered: Vec<&str> = begin["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert!(!offered.contains(&"sms"), "{offered:?}");
    assert!(offered.contains(&"totp"));
    let r = post_auth(
        &app,
        "/v1/step-up/challenge",
        &user.access,
        json!({"challenge_token": begin["challenge_token"], "method_id": sms_id}),
    )
    .await;
    assert_problem(r, 403, "factor_not_allowed").await;
    let r = post_auth(
        &app,
        "/v1/step-up/verify",
        &user.access,
        json!({"challenge_token": begin["challenge_token"], "type": "sms", "code": "123456"}),
    )
    .await;
    assert_problem(r, 403, "factor_not_allowed").await;
    assert!(phone.next_within(1).await.is_none());

    // an app's own action takes the SMS code
    let begin: Value = post_auth(
        &app,
        "/v1/step-up",
        &user.access,
        json!({"action": "billing.refund"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let r = post_auth(
        &app,
        "/v1/step-up/challenge",
        &user.access,
        json!({"challenge_token": begin["challenge_token"], "method_id": sms_id}),
    )
    .await;
    assert_eq!(r.status(), 202);
    let code = phone.next().await.code();
    let r = post_auth(
        &app,
        "/v1/step-up/verify",
        &user.access,
        json!({"challenge_token": begin["challenge_token"], "type": "sms", "code": code}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, body["step_up_token"].as_str().unwrap()).await;
    assert_eq!(claims["action"], "billing.refund");
    assert_eq!(claims["amr"], json!(["pwd", "sms", "mfa"]));
}
