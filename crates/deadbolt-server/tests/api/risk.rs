//! Risk at sign-in: new devices, networks and countries, impossible travel and bursts of
//! failures answered as policy says, and sign-ins restricted by role to networks or countries.
//! Client addresses come through a trusted proxy's X-Forwarded-For; places from a GeoIP
//! database the tests write (Paris 198.51.100.0/24, New York 203.0.113.0/24, Berlin
//! 192.0.2.0/24).

use crate::geoip_file::three_cities;
use crate::helpers::*;
use serde_json::{json, Value};
use time::Duration;

const PARIS: &str = "198.51.100.7";
const NEW_YORK: &str = "203.0.113.9";
const BERLIN: &str = "192.0.2.5";

struct Risky {
    app: TestApp,
    _geoip: tempfile::TempDir,
}

async fn spawn_risky(configure: impl FnOnce(&mut deadbolt_server::Config)) -> Risky {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cities.mmdb");
    three_cities(&db);
    let options = Options {
        manual_clock: true,
        ..Default::default()
    };
    let app = spawn_app_with(options, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.geoip.database = db.to_string_lossy().into_owned();
        configure(c);
    })
    .await;
    Risky { app, _geoip: dir }
}

/// A server whose policy holds `role` to these networks and countries.
async fn spawn_holding(role: &str, networks: &[&str], countries: &[&str]) -> Risky {
    let rule = deadbolt_core::risk::LocationRule {
        networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
        countries: countries.iter().map(|c| (*c).to_owned()).collect(),
    };
    spawn_risky(|c| {
        c.locations.insert(role.to_owned(), rule);
    })
    .await
}

/// A request from `ip` (as the trusted proxy reports it).
async fn post_from(app: &TestApp, ip: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login_from(app: &TestApp, ip: &str, email: &str, device: Option<&str>) -> Value {
    let r = post_from(
        app,
        ip,
        "/v1/login",
        json!({"email": email, "password": PASSWORD, "device_token": device}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn attempt(app: &TestApp, ip: &str, email: &str) -> reqwest::Response {
    post_from(
        app,
        ip,
        "/v1/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
}

/// An administrator made as `deadbolt admin create` makes one: verified email, no MFA yet.
async fn operator_admin(app: &TestApp, email: &str) {
    operator_account(app, email, &["admin"]).await;
}

async fn events_of(app: &TestApp, access: &str) -> Vec<Value> {
    let r = app.get_auth("/v1/me/events?limit=100", access).await;
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_new_country_asks_for_the_second_factor_even_on_a_trusted_device() {
    let Risky { app, _geoip } = spawn_risky(|_| {}).await;
    let user = app.enrolled("traveller@example.com").await;
    // Paris: a second factor, and this device trusted
    let first = login_from(&app, PARIS, &user.email, None).await;
    assert_eq!(first["mfa_required"], true);
    let r = post_from(&app, PARIS, "/v1/login/mfa/verify", json!({"mfa_token": first["mfa_token"], "type": "totp", "code": app.code(&user.secret), "trust_device": true})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let device = body["device_token"]
        .as_str()
        .expect("a device token")
        .to_owned();

    // Paris again, ten hours later: the trusted device is enough
    app.advance(Duration::hours(10));
    let again = login_from(&app, PARIS, &user.email, Some(&device)).await;
    assert_eq!(again["mfa_required"], false, "{again}");
    assert!(again.get("reason").is_none());

    // New York, ten hours later (a flight, not impossible): a new country asks for the factor
    app.advance(Duration::hours(10));
    let abroad = login_from(&app, NEW_YORK, &user.email, Some(&device)).await;
    assert_eq!(abroad["mfa_required"], true, "{abroad}");
    assert_eq!(abroad["reason"], "new_location");
    assert_eq!(abroad["methods"][0]["type"], "totp");

    let r = post_from(
        &app,
        NEW_YORK,
        "/v1/login/mfa/verify",
        json!({"mfa_token": abroad["mfa_token"], "type": "totp", "code": app.code(&user.secret)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let signed_in: Value = r.json().await.unwrap();
    let events = events_of(&app, signed_in["access_token"].as_str().unwrap()).await;
    let risk = events
        .iter()
        .find(|e| e["kind"] == "sign_in_risk" && e["ip"] == NEW_YORK)
        .expect("the signals are recorded");
    assert_eq!(
        risk["detail"]["signals"],
        json!(["new_network", "new_country"])
    );
    assert_eq!(risk["detail"]["decision"], "second_factor");
}

#[tokio::test]
async fn impossible_travel_asks_an_account_without_mfa_for_an_emailed_code() {
    let Risky { mut app, _geoip } = spawn_risky(|_| {}).await;
    verified_account(&mut app, "jet@example.com").await;
    // Paris: a new country, but without MFA policy's second_factor lets it in
    let paris = login_from(&app, PARIS, "jet@example.com", None).await;
    assert_eq!(paris["mfa_required"], false, "{paris}");
    // one hour later, New York: 5,800 km in an hour
    app.advance(Duration::hours(1));
    let ny = login_from(&app, NEW_YORK, "jet@example.com", None).await;
    assert_eq!(ny["mfa_required"], true, "{ny}");
    assert_eq!(ny["reason"], "impossible_travel");
    let methods = ny["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0]["type"], "email");
    assert_eq!(methods[0]["hint"], "j***@example.com");

    // a wrong guess counts; the mailed code signs in
    let token = ny["mfa_token"].clone();
    let r = post_from(
        &app,
        NEW_YORK,
        "/v1/login/mfa/challenge",
        json!({"mfa_token": token, "method_id": methods[0]["id"]}),
    )
    .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let code = app.next_mail().await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = post_from(
        &app,
        NEW_YORK,
        "/v1/login/mfa/verify",
        json!({"mfa_token": token, "type": "email", "method_id": methods[0]["id"], "code": wrong}),
    )
    .await;
    assert_problem(r, 401, "invalid_code").await;
    let r = post_from(
        &app,
        NEW_YORK,
        "/v1/login/mfa/verify",
        json!({"mfa_token": token, "type": "email", "method_id": methods[0]["id"], "code": code}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let signed_in: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, signed_in["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    // the code was single use, and the account still has no MFA method
    let r = post_from(
        &app,
        NEW_YORK,
        "/v1/login/mfa/verify",
        json!({"mfa_token": token, "type": "email", "method_id": methods[0]["id"], "code": code}),
    )
    .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    let r = app
        .get_auth("/v1/me/mfa", signed_in["access_token"].as_str().unwrap())
        .await;
    let mfa: Value = r.json().await.unwrap();
    assert_eq!(mfa["enabled"], false, "{mfa}");
}

#[tokio::test]
async fn policy_can_refuse_a_new_network_and_the_refusal_is_recorded() {
    let Risky { app, _geoip } = spawn_risky(|c| {
        c.risk.new_network = deadbolt_core::risk::RiskResponse::Refuse;
    })
    .await;
    let home = app.access_token("careful@example.com").await;
    let r = post_from(
        &app,
        PARIS,
        "/v1/login",
        json!({"email": "careful@example.com", "password": PASSWORD}),
    )
    .await;
    let problem = assert_problem(r, 403, "sign_in_refused").await;
    assert_eq!(problem["reason"], "new_location");
    // the same /24 as before is no new network
    let r = post_from(
        &app,
        "127.0.0.9",
        "/v1/login",
        json!({"email": "careful@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let events = events_of(&app, &home).await;
    let refused = events
        .iter()
        .find(|e| e["kind"] == "sign_in_refused")
        .expect("recorded");
    assert_eq!(refused["ip"], PARIS);
    assert!(refused["detail"]["signals"]
        .as_array()
        .unwrap()
        .contains(&json!("new_network")));
    // a refused sign-in does not make its network familiar
    let r = post_from(
        &app,
        PARIS,
        "/v1/login",
        json!({"email": "careful@example.com", "password": PASSWORD}),
    )
    .await;
    assert_problem(r, 403, "sign_in_refused").await;
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_voids_the_trusted_device() {
    let Risky { app, _geoip } = spawn_risky(|_| {}).await;
    let user = app.enrolled("target@example.com").await;
    let t = app.mfa_token(&user.email).await;
    let r = app.post("/v1/login/mfa/verify", json!({"mfa_token": t, "type": "totp", "code": app.code(&user.secret), "trust_device": true})).await;
    let device = r.json::<Value>().await.unwrap()["device_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let trusted = login_from(&app, "127.0.0.1", &user.email, Some(&device)).await;
    assert_eq!(trusted["mfa_required"], false);
    for _ in 0..5 {
        let r = app.login(&user.email, "not the password at all").await;
        assert_eq!(r.status(), 401);
    }
    let after = login_from(&app, "127.0.0.1", &user.email, Some(&device)).await;
    assert_eq!(after["mfa_required"], true, "{after}");
    assert_eq!(after["reason"], "policy");
    // signing in again at once does not wash the burst away: only a completed sign-in does
    let again = login_from(&app, "127.0.0.1", &user.email, Some(&device)).await;
    assert_eq!(again["reason"], "policy", "{again}");
    app.advance(Duration::seconds(30));
    let r = app
        .verify_totp(
            again["mfa_token"].as_str().unwrap(),
            &app.code(&user.secret),
        )
        .await;
    assert_eq!(r.status(), 200);
    let calm = login_from(&app, "127.0.0.1", &user.email, Some(&device)).await;
    assert_eq!(calm["mfa_required"], false, "{calm}");
}

#[tokio::test]
async fn an_emailed_check_is_no_enrolment_and_trusts_no_device() {
    let Risky { mut app, _geoip } = spawn_risky(|c| {
        c.risk.new_device = deadbolt_core::risk::RiskResponse::EmailCode;
    })
    .await;
    operator_admin(&app, "newadmin@example.com").await;
    // the first sign-in: policy requires MFA of admins, so a session that may only enroll
    let first = login_from(&app, "127.0.0.1", "newadmin@example.com", None).await;
    assert_eq!(first["enrollment_required"], true, "{first}");
    // another browser: an emailed code is asked for
    let r = app
        .client
        .post(app.url("/v1/login"))
        .header("user-agent", "Another Browser/2.0")
        .json(&json!({"email": "newadmin@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "new_device", "{body}");
    let method = body["methods"][0]["id"].clone();
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": body["mfa_token"], "method_id": method}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let code = app.next_mail_to("newadmin@example.com").await.code();
    let r = app.post("/v1/login/mfa/verify", json!({"mfa_token": body["mfa_token"], "type": "email", "method_id": method, "code": code, "trust_device": true})).await;
    assert_eq!(r.status(), 200);
    let signed_in: Value = r.json().await.unwrap();
    // no device is trusted on an emailed check
    assert!(signed_in.get("device_token").is_none(), "{signed_in}");
    // and the session is still one that may only enroll: not an administrator's
    let access = signed_in["access_token"].as_str().unwrap();
    let r = app.get_auth("/v1/admin/policy", access).await;
    assert_problem(r, 403, "mfa_enrollment_required").await;
}

#[tokio::test]
async fn a_new_device_can_demand_an_emailed_code_and_an_unverified_email_is_refused() {
    let Risky { mut app, _geoip } = spawn_risky(|c| {
        c.risk.new_device = deadbolt_core::risk::RiskResponse::EmailCode;
    })
    .await;
    verified_account(&mut app, "verified@example.com").await;
    app.signed_in_unverified("unverified@example.com").await;
    let from_new_browser = |email: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/login"))
                .header("user-agent", "Another Browser/2.0")
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = from_new_browser("verified@example.com").await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert_eq!(body["reason"], "new_device");
    assert_eq!(body["methods"][0]["type"], "email");
    let r = from_new_browser("unverified@example.com").await;
    let problem = assert_problem(r, 403, "sign_in_refused").await;
    assert_eq!(problem["reason"], "new_device");
    // the browser it always used signs in as before
    let r = app.login("verified@example.com", PASSWORD).await;
    assert_eq!(r.json::<Value>().await.unwrap()["mfa_required"], false);
}

#[tokio::test]
async fn a_role_can_be_held_to_listed_networks_or_countries() {
    let Risky { mut app, _geoip } = spawn_holding("admin", &["10.0.0.0/8"], &["DE"]).await;
    operator_admin(&app, "ops@example.com").await;
    assert_eq!(
        attempt(&app, "10.1.2.3", "ops@example.com").await.status(),
        200
    );
    assert_eq!(attempt(&app, BERLIN, "ops@example.com").await.status(), 200);
    assert_problem(
        attempt(&app, PARIS, "ops@example.com").await,
        403,
        "location_not_allowed",
    )
    .await;
    // whoever tried knows the password: the owner is told
    let told = app.next_mail_to("ops@example.com").await;
    assert_eq!(told.subject, "A sign-in with your password was refused");
    // told once an hour, however often whoever has the password tries
    assert_problem(
        attempt(&app, PARIS, "ops@example.com").await,
        403,
        "location_not_allowed",
    )
    .await;
    assert!(app.next_mail_within(2).await.is_none());
    assert_problem(
        attempt(&app, "127.0.0.1", "ops@example.com").await,
        403,
        "location_not_allowed",
    )
    .await;
    // other roles are not held anywhere
    app.sign_up("staff@example.com").await;
    assert_eq!(
        attempt(&app, PARIS, "staff@example.com").await.status(),
        200
    );
    // and a wrong password from outside is still just a wrong password
    let r = post_from(
        &app,
        PARIS,
        "/v1/login",
        json!({"email": "ops@example.com", "password": "wrong password here"}),
    )
    .await;
    assert_problem(r, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn a_session_is_not_refreshed_from_where_its_roles_may_not_sign_in() {
    let Risky { mut app, _geoip } = spawn_holding("auditor", &[], &["DE"]).await;
    operator_account(&app, "audit@example.com", &["auditor"]).await;
    let signed_in = login_from(&app, BERLIN, "audit@example.com", None).await;
    let refresh = signed_in["refresh_token"].as_str().unwrap().to_owned();
    let from = |ip: &'static str| {
        let app = &app;
        let body = json!({"refresh_token": refresh});
        async move { post_from(app, ip, "/v1/token/refresh", body).await }
    };
    // refused from Paris, however often, and the token is not spent by it
    for _ in 0..3 {
        assert_problem(from(PARIS).await, 403, "location_not_allowed").await;
    }
    let renewed = from(BERLIN).await;
    // the owner is told, once
    let told = app.next_mail_to("audit@example.com").await;
    assert_eq!(
        told.subject,
        "A session of yours was refused in a disallowed place"
    );
    while let Some(mail) = app.next_mail_within(2).await {
        assert_ne!(mail.subject, told.subject, "told twice");
    }
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    // recorded once (an hour), not once per request
    // read from Berlin: from anywhere else the token itself is refused
    let events: Value = app
        .client
        .get(app.url("/v1/me/events?limit=100"))
        .bearer_auth(renewed["access_token"].as_str().unwrap())
        .header("x-forwarded-for", BERLIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = events["items"].as_array().unwrap().clone();
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "sign_in_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(refused[0]["ip"], PARIS);
    assert_eq!(refused[0]["detail"]["reason"], "location");
    assert_eq!(refused[0]["detail"]["country"], "FR");
}

#[tokio::test]
async fn a_held_access_token_is_no_good_where_its_roles_may_not_sign_in() {
    let Risky { app, _geoip } = spawn_holding("auditor", &[], &["DE"]).await;
    operator_account(&app, "root@example.com", &["auditor"]).await;
    let signed_in = login_from(&app, BERLIN, "root@example.com", None).await;
    let access = signed_in["access_token"].as_str().unwrap().to_owned();
    let from = |ip: &'static str, path: &'static str| {
        let app = &app;
        let access = access.clone();
        async move {
            app.client
                .get(app.url(path))
                .bearer_auth(access)
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap()
        }
    };
    // the same token, carried to Paris: every call refused, the step-up first
    for path in ["/v1/me", "/v1/me/sessions"] {
        assert_problem(from(PARIS, path).await, 403, "location_not_allowed").await;
    }
    let r = app
        .client
        .post(app.url("/v1/step-up"))
        .bearer_auth(&access)
        .header("x-forwarded-for", PARIS)
        .json(&json!({"action": "policy.change"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "location_not_allowed").await;
    assert_eq!(from(BERLIN, "/v1/me").await.status(), 200);
    // a burst of the token from Paris is recorded once, not once a request
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (client, url, access) = (app.client.clone(), app.url("/v1/me"), access.clone());
        burst.spawn(async move {
            let r = client
                .get(url)
                .bearer_auth(access)
                .header("x-forwarded-for", PARIS);
            r.send().await.unwrap().status()
        });
    }
    while let Some(status) = burst.join_next().await {
        assert_eq!(status.unwrap(), 403);
    }
    let events: Value = from(BERLIN, "/v1/me/events?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let refused = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sign_in_refused")
        .count();
    assert_eq!(refused, 1, "{events}");
}
