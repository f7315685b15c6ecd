//! The device authorization grant (RFC 8628) over HTTP, as a TV and its person meet it: the
//! device asks and polls (pending, slow_down with a growing interval, denied, expired, tokens
//! once), the person approves or denies on the device page after signing in with a second
//! factor, and wrong user codes are limited per account and per address. (A real client
//! library drives the same flow in Chromium: tests/browser/device.test.mjs.)

use crate::browser::Browser;
use crate::helpers::*;
use crate::oidc::{
    app_input, location, oauth_error, register, sign_in_with_totp, verified_id_token, Rp,
};
use serde_json::Value;
use time::Duration;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const TV: &str = "LivingRoomTV/2.1 (Tizen)";
/// Where the TV asks from, as a trusted proxy reports it (the approving browser is at 127.0.0.1).
const TV_ADDRESS: &str = "203.0.113.9";

async fn tv_app(app: &TestApp) -> Rp {
    let mut input = app_input(true, true, "EdDSA");
    input.name = "Cinema at home".into();
    input.grants = Some(vec!["device_code".into(), "refresh_token".into()]);
    register(app, input).await
}

/// The device's first request: its answer.
async fn ask(app: &TestApp, rp: &Rp, scope: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth2/device_authorization"))
        .header("user-agent", TV)
        .header("x-forwarded-for", TV_ADDRESS)
        .form(&[("client_id", rp.id.as_str()), ("scope", scope)])
        .send()
        .await
        .unwrap()
}

async fn started(app: &TestApp, rp: &Rp) -> Value {
    let r = ask(app, rp, "openid email offline_access").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn poll(app: &TestApp, rp: &Rp, device_code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", rp.id.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

async fn poll_error(app: &TestApp, rp: &Rp, device_code: &str, code: &str) {
    oauth_error(poll(app, rp, device_code).await, 400, code).await;
}

/// A browser signed in (password and TOTP) as a new enrolled account.
async fn approver(app: &TestApp, email: &str) -> (Browser, Enrolled) {
    let user = app.enrolled(email).await;
    let mut b = Browser::new();
    sign_in_with_totp(&mut b, app, &user.email, &user.secret, false).await;
    (b, user)
}

/// Types `code` on the device page: the status and page.
async fn type_code(b: &mut Browser, app: &TestApp, code: &str) -> (u16, String) {
    b.get(app, "/device").await;
    let (status, _, body) = b.post(app, "/device", &[("user_code", code)]).await;
    (status, body)
}

async fn answer(
    b: &mut Browser,
    app: &TestApp,
    code: &str,
    decision: &str,
) -> (u16, String, String) {
    let (status, headers, body) = b
        .post(
            app,
            "/device/answer",
            &[("user_code", code), ("decision", decision)],
        )
        .await;
    (status, location(&headers), body)
}

fn is_user_code(s: &str) -> bool {
    let alphabet = "BCDFGHJKLMNPQRSTVWXZ";
    s.len() == 9
        && s.char_indices().all(|(i, c)| {
            if i == 4 {
                c == '-'
            } else {
                alphabet.contains(c)
            }
        })
}

#[tokio::test]
async fn a_tv_is_signed_in_once_its_person_approves_the_code_it_shows() {
    let mut app = spawn_app_with(manual(), |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let rp = tv_app(&app).await;
    let d: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["device_authorization_endpoint"],
        "http://deadbolt.test/oauth2/device_authorization"
    );
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&GRANT.into()));

    let s = started(&app, &rp).await;
    let user_code = s["user_code"].as_str().unwrap().to_owned();
    assert!(is_user_code(&user_code), "{user_code}");
    assert_eq!(s["verification_uri"], "http://deadbolt.test/device");
    assert_eq!(
        s["verification_uri_complete"],
        format!("http://deadbolt.test/device?user_code={user_code}")
    );
    assert_eq!(s["expires_in"], 600);
    assert_eq!(s["interval"], 5);
    let device_code = s["device_code"].as_str().unwrap().to_owned();

    // waiting; a poll too soon is told to slow down, and the interval grows by five seconds
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
    poll_error(&app, &rp, &device_code, "slow_down").await;
    app.advance(Duration::seconds(9));
    poll_error(&app, &rp, &device_code, "slow_down").await;
    app.advance(Duration::seconds(15));
    poll_error(&app, &rp, &device_code, "authorization_pending").await;

    // the QR code's link fills the code in (lower case, no dash is the same code) but looks
    // nothing up until the person presses Continue
    let (mut b, user) = approver(&app, "viewer@example.com").await;
    let typed = user_code.replace('-', "").to_lowercase();
    let (status, _, page) = b.get(&app, &format!("/device?user_code={typed}")).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("value=\"{user_code}\"")), "{page}");
    assert!(!page.contains("Cinema at home"));

    let (status, page) = type_code(&mut b, &app, &typed).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Cinema at home"), "the client's name");
    assert!(page.contains(TV_ADDRESS), "the device's address");
    assert!(page.contains("LivingRoomTV"), "the device's program");
    assert!(page.contains(&user_code));

    let (status, _, page) = answer(&mut b, &app, &user_code, "approve").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Device signed in"));
    // its owner hears of it, with where the device is
    let told = app
        .next_mail_titled("A device was signed in to your account")
        .await;
    assert_eq!(told.to, ["viewer@example.com"]);
    assert!(told.text.contains(TV_ADDRESS), "{}", told.text);

    app.advance(Duration::seconds(10));
    let r = poll(&app, &rp, &device_code).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let id = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(id["acr"], "aal2", "the approving sign-in's level");
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["email"], "viewer@example.com");
    let info: Value = app
        .get_auth("/oauth2/userinfo", t["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], id["sub"]);

    // tokens once; the device's session is the person's to see and end
    app.advance(Duration::seconds(10));
    poll_error(&app, &rp, &device_code, "invalid_grant").await;
    let sessions: Value = app
        .get_auth("/v1/me/sessions", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let tv = sessions["sessions"]
        .as_array()
        .or_else(|| sessions["items"].as_array())
        .unwrap()
        .iter()
        .find(|s| s["user_agent"] == TV)
        .cloned()
        .expect("the TV's own session");
    assert_eq!(tv["ip"], TV_ADDRESS, "{tv}");
    let r = app
        .client
        .delete(app.url(&format!("/v1/me/sessions/{}", tv["id"].as_str().unwrap())))
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", rp.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(r, 400, "invalid_grant").await;
    let kinds = app.event_kinds(&user.access).await;
    assert!(kinds.contains(&"device_authorization_approved".to_owned()));
}

#[tokio::test]
async fn a_denied_request_is_access_denied_and_recorded() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = tv_app(&app).await;
    let s = started(&app, &rp).await;
    let code = s["user_code"].as_str().unwrap();
    let (mut b, user) = approver(&app, "refuser@example.com").await;
    assert_eq!(type_code(&mut b, &app, code).await.0, 200);
    let (status, _, page) = answer(&mut b, &app, code, "deny").await;
    assert_eq!(status, 200);
    assert!(page.contains("Request denied"));
    poll_error(
        &app,
        &rp,
        s["device_code"].as_str().unwrap(),
        "access_denied",
    )
    .await;
    let kinds = app.event_kinds(&user.access).await;
    assert!(kinds.contains(&"device_authorization_denied".to_owned()));

    // an answered code shows nothing more: not to approve after a denial, nor twice
    let (status, page) = type_code(&mut b, &app, code).await;
    assert_eq!(status, 422);
    assert!(page.contains("used already"), "{page}");
    let (status, _, _) = answer(&mut b, &app, code, "approve").await;
    assert_eq!(status, 422);
    app.advance(Duration::seconds(10));
    poll_error(
        &app,
        &rp,
        s["device_code"].as_str().unwrap(),
        "access_denied",
    )
    .await;
}

#[tokio::test]
async fn an_unanswered_request_expires_and_its_code_stops_working() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = tv_app(&app).await;
    let s = started(&app, &rp).await;
    let device_code = s["device_code"].as_str().unwrap();
    let (mut b, _) = approver(&app, "late@example.com").await;
    app.advance(Duration::seconds(601));
    let (status, page) = type_code(&mut b, &app, s["user_code"].as_str().unwrap()).await;
    assert_eq!(status, 422);
    assert!(page.contains("expired"), "{page}");
    poll_error(&app, &rp, device_code, "expired_token").await;
    app.advance(Duration::seconds(10));
    poll_error(&app, &rp, device_code, "expired_token").await;
}

#[tokio::test]
async fn wrong_user_codes_are_limited_per_account_and_per_address() {
    let app = spawn_app_with(manual(), |c| {
        c.limits.device_code_failures_per_account = 3;
        c.limits.device_code_failures_per_ip = 5;
    })
    .await;
    let rp = tv_app(&app).await;
    let s = started(&app, &rp).await;
    let right = s["user_code"].as_str().unwrap();
    let (mut guesser, _) = approver(&app, "guesser@example.com").await;
    for wrong in ["BCDF-GHJK", "ZXWV-TSRQ", "not a code"] {
        let (status, page) = type_code(&mut guesser, &app, wrong).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("not right"));
    }
    // the account's limit: even the right code waits now
    let (status, page) = type_code(&mut guesser, &app, right).await;
    assert_eq!(status, 429, "{page}");
    assert!(!page.contains("Cinema at home"));
    // nor can the answer form be used to guess past the limit
    let (status, _, page) = answer(&mut guesser, &app, right, "deny").await;
    assert_eq!(status, 429, "{page}");

    // the address's limit holds across accounts: two more wrong codes from another account
    // at the same address fill it
    let (mut other, _) = approver(&app, "accomplice@example.com").await;
    assert_eq!(type_code(&mut other, &app, "QQQQ-QQQQ").await.0, 422);
    other.get(&app, "/device").await;
    assert_eq!(answer(&mut other, &app, "QQQQ-QQQQ", "deny").await.0, 422);
    assert_eq!(type_code(&mut other, &app, right).await.0, 429);

    // the right code, typed by someone with tries left, costs none of them
    let app2 = spawn_app_with(manual(), |c| {
        c.limits.device_code_failures_per_account = 1;
    })
    .await;
    let rp2 = tv_app(&app2).await;
    let s2 = started(&app2, &rp2).await;
    let (mut b, _) = approver(&app2, "owner@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            type_code(&mut b, &app2, s2["user_code"].as_str().unwrap())
                .await
                .0,
            200
        );
    }
}

#[tokio::test]
async fn an_approval_from_a_session_signed_in_long_ago_steps_up_first() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = tv_app(&app).await;
    let s = started(&app, &rp).await;
    let code = s["user_code"].as_str().unwrap();
    let (mut b, user) = approver(&app, "stale@example.com").await;
    app.advance(Duration::seconds(400));
    assert_eq!(type_code(&mut b, &app, code).await.0, 200);
    let (status, to, _) = answer(&mut b, &app, code, "approve").await;
    assert_eq!(status, 303);
    assert_eq!(to, "/step-up?op=approve-device");
    poll_error(
        &app,
        &rp,
        s["device_code"].as_str().unwrap(),
        "authorization_pending",
    )
    .await;

    let (status, _, body) = b.get(&app, &to).await;
    assert_eq!(status, 200, "{body}");
    let totp = app.code(&user.secret);
    let (status, _, page) = b
        .post(
            &app,
            "/step-up/verify",
            &[("op", "approve-device"), ("code", &totp)],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Device signed in"), "{page}");
    app.advance(Duration::seconds(10));
    assert_eq!(
        poll(&app, &rp, s["device_code"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_person_not_signed_in_signs_in_and_comes_back_with_the_code() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = tv_app(&app).await;
    let s = started(&app, &rp).await;
    let code = s["user_code"].as_str().unwrap();
    let user = app.enrolled("couch@example.com").await;
    let mut b = Browser::new();
    let (status, headers, _) = b.get(&app, &format!("/device?user_code={code}")).await;
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/sign-in");
    let next = sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    assert_eq!(next, "/device");
    let (status, _, page) = b.get(&app, &next).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("value=\"{code}\"")), "{page}");
}

#[tokio::test]
async fn parallel_polls_after_an_approval_give_tokens_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = tv_app(&app).await;
    let s = started(&app, &rp).await;
    let code = s["user_code"].as_str().unwrap();
    let device_code = s["device_code"].as_str().unwrap();
    let (mut b, _) = approver(&app, "racer@example.com").await;
    assert_eq!(type_code(&mut b, &app, code).await.0, 200);
    assert_eq!(answer(&mut b, &app, code, "approve").await.0, 200);
    let mut set = tokio::task::JoinSet::new();
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    for _ in 0..8 {
        let request = app.client.post(app.url("/oauth2/token")).form(&[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", rp.id.as_str()),
        ]);
        let gate = gate.clone();
        set.spawn(async move {
            gate.wait().await;
            request.send().await.unwrap().status().as_u16()
        });
    }
    let statuses: Vec<u16> = set.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn only_a_client_allowed_the_grant_asks_and_only_it_polls_its_code() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let web = register(&app, app_input(true, true, "EdDSA")).await;
    oauth_error(ask(&app, &web, "openid").await, 400, "unauthorized_client").await;
    let tv = tv_app(&app).await;
    oauth_error(ask(&app, &tv, "openid admin").await, 400, "invalid_scope").await;
    let s = started(&app, &tv).await;
    let device_code = s["device_code"].as_str().unwrap();
    // another client with the grant cannot collect this device's tokens
    let other = tv_app(&app).await;
    poll_error(&app, &other, device_code, "invalid_grant").await;
    // the web client may not poll with the device grant at all
    oauth_error(
        poll(&app, &web, device_code).await,
        400,
        "unauthorized_client",
    )
    .await;
    poll_error(&app, &tv, "odc_made-up", "invalid_grant").await;
    poll_error(&app, &tv, "", "invalid_request").await;
    let r = app
        .client
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", "no-such-client")])
        .send()
        .await
        .unwrap();
    oauth_error(r, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_device_where_the_account_may_not_sign_in_is_not_approved() {
    use crate::geoip_file::three_cities;
    const PARIS: &str = "198.51.100.7";
    const NEW_YORK: &str = "203.0.113.9";
    let dir = tempfile::tempdir().unwrap();
    let geo = dir.path().join("cities.mmdb");
    three_cities(&geo);
    let app = spawn_app_with(manual(), |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.geoip.database = geo.to_string_lossy().into_owned();
        c.locations.insert(
            "auditor".into(),
            deadbolt_core::risk::LocationRule {
                networks: vec![],
                countries: vec!["FR".into()],
            },
        );
    })
    .await;
    let rp = tv_app(&app).await;
    let ask_from = |ip: &'static str| {
        app.client
            .post(app.url("/oauth2/device_authorization"))
            .header("x-forwarded-for", ip)
            .form(&[("client_id", rp.id.as_str())])
            .send()
    };
    let abroad: Value = ask_from(NEW_YORK).await.unwrap().json().await.unwrap();
    let home: Value = ask_from(PARIS).await.unwrap().json().await.unwrap();

    operator_account(&app, "parisian@example.com", &["auditor"]).await;
    let mut b = Browser::new();
    b.from = Some(PARIS);
    let (status, headers, _) = b.sign_in(&app, "parisian@example.com").await;
    assert_eq!((status, location(&headers).as_str()), (303, "/account"));

    // the place is shown, and the rule holds for the device as for a sign-in
    let code = abroad["user_code"].as_str().unwrap();
    let (status, page) = type_code(&mut b, &app, code).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">US<"), "{page}");
    let (status, _, page) = answer(&mut b, &app, code, "approve").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("may not be signed in from where this device is"));
    app.advance(Duration::seconds(10));
    poll_error(
        &app,
        &rp,
        abroad["device_code"].as_str().unwrap(),
        "authorization_pending",
    )
    .await;

    let code = home["user_code"].as_str().unwrap();
    assert_eq!(type_code(&mut b, &app, code).await.0, 200);
    assert_eq!(answer(&mut b, &app, code, "approve").await.0, 200);
    assert_eq!(
        poll(&app, &rp, home["device_code"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_request_whose_device_stopped_polling_has_its_end_recorded_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = tv_app(&app).await;
    let gone = started(&app, &rp).await;
    let polling = started(&app, &rp).await;
    let answered = started(&app, &rp).await;
    let (mut b, _) = approver(&app, "answers@example.com").await;
    let code = answered["user_code"].as_str().unwrap();
    assert_eq!(type_code(&mut b, &app, code).await.0, 200);
    assert_eq!(answer(&mut b, &app, code, "deny").await.0, 200);
    app.advance(Duration::seconds(601));
    // one device polls after the end: that poll records it
    poll_error(
        &app,
        &rp,
        polling["device_code"].as_str().unwrap(),
        "expired_token",
    )
    .await;

    let ctx = app.context().await;
    // housekeeping records the one nobody polled for, and only it; and only once
    assert_eq!(
        deadbolt_usecases::oidc::device::record_expired(&ctx)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        deadbolt_usecases::oidc::device::record_expired(&ctx)
            .await
            .unwrap(),
        0
    );
    poll_error(
        &app,
        &rp,
        gone["device_code"].as_str().unwrap(),
        "expired_token",
    )
    .await;
}
