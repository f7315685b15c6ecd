//! The hosted pages over HTTP (the browser tests in tests/browser drive them in Chromium): the
//! security headers, the cookies, the CSRF check, hostile forms, and that a page session is an
//! API session like any other.

use crate::browser::{Browser, ORIGIN_URL};
use crate::helpers::{operator_account, spawn_app, spawn_app_with, Options, PASSWORD};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

#[tokio::test]
async fn pages_carry_a_strict_csp_and_secure_host_cookies() {
    let app = spawn_app().await;
    let mut b = Browser::new();
    let (status, headers, body) = b.get(&app, "/sign-in").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    // HSTS only where the public URL is https (below): over http a browser ignores it anyway
    assert!(headers.get("strict-transport-security").is_none());
    let cookie = headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Host-deadbolt-csrf="), "{cookie}");
    for part in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!body.contains("style=") && !body.contains("<script>"));
    // the assets named in the page are served with long caching
    let css = body
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|u| u.contains("app.css")))
        .unwrap()
        .replace("&#x2f;", "/");
    let r = app.get(&css).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn pages_of_a_service_on_https_ask_browsers_to_keep_to_https() {
    let app = spawn_app_with(Options::default(), |c| {
        c.server.public_url = "https://deadbolt.test".into();
    })
    .await;
    let mut b = Browser::new();
    let (status, headers, _) = b.get(&app, "/sign-in").await;
    assert_eq!(status, 200);
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
}

#[tokio::test]
async fn a_form_from_elsewhere_or_without_its_token_is_refused() {
    let app = spawn_app().await;
    app.sign_up("csrf@example.com").await;
    let mut b = Browser::new();
    b.get(&app, "/sign-in").await;
    let fields = [("email", "csrf@example.com"), ("password", PASSWORD)];
    let form = |csrf: &str| {
        serde_urlencoded::to_string([
            ("csrf", csrf),
            ("email", "csrf@example.com"),
            ("password", PASSWORD),
        ])
        .unwrap()
        .into_bytes()
    };
    let token = b.csrf.clone();
    let (status, _, _) = b
        .post_raw(&app, "/sign-in", "https://evil.example", form(&token))
        .await;
    assert_eq!(status, 403, "another origin");
    let (status, _, _) = b.post_raw(&app, "/sign-in", ORIGIN_URL, form("")).await;
    assert_eq!(status, 403, "no token");
    let (status, _, _) = b
        .post_raw(&app, "/sign-in", ORIGIN_URL, form(&"0".repeat(64)))
        .await;
    assert_eq!(status, 403, "a made-up token");
    // another browser's token does not fit this browser's cookie
    let mut other = Browser::new();
    other.get(&app, "/sign-in").await;
    let (status, _, _) = b
        .post_raw(&app, "/sign-in", ORIGIN_URL, form(&other.csrf))
        .await;
    assert_eq!(status, 403, "another browser's token");
    // a cross-site fetch, as browsers label it
    let r = b
        .client
        .post(app.url("/sign-in"))
        .header(COOKIE, b.cookie_header())
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", token.as_str()), fields[0], fields[1]])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "Sec-Fetch-Site: cross-site");
    // and the real thing signs in
    let (status, headers, _) = b.post(&app, "/sign-in", &fields).await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/account");
    assert!(b.cookies.contains_key("__Host-deadbolt-session"));
}

#[tokio::test]
async fn a_page_session_is_not_kept_going_from_where_its_roles_may_not_sign_in() {
    let app = spawn_app_with(Options::default(), |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.locations.insert(
            "auditor".into(),
            deadbolt_core::risk::LocationRule {
                networks: vec!["10.0.0.0/8".parse().unwrap()],
                countries: vec![],
            },
        );
    })
    .await;
    operator_account(&app, "audit@example.com", &["auditor"]).await;
    let mut b = Browser::new();
    b.from = Some("10.1.2.3");
    b.get(&app, "/sign-in").await;
    let fields = [("email", "audit@example.com"), ("password", PASSWORD)];
    let (status, headers, _) = b.post(&app, "/sign-in", &fields).await;
    assert_eq!(
        (status, &headers[LOCATION]),
        (303, &"/account".parse().unwrap())
    );
    let (status, _, _) = b.get(&app, "/account").await;
    assert_eq!(status, 200);
    // the same cookie from elsewhere is nobody
    b.from = Some("192.0.2.5");
    let (status, headers, _) = b.get(&app, "/account").await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/sign-in");
    // and back inside the allowed network the session goes on
    b.from = Some("10.9.9.9");
    let (status, _, _) = b.get(&app, "/account").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_page_session_is_an_api_session() {
    let app = spawn_app().await;
    let api = app.signed_in("same@example.com").await;
    let access = api["access_token"].as_str().unwrap();
    let mut b = Browser::new();
    b.get(&app, "/sign-in").await;
    let (status, _, _) = b
        .post(
            &app,
            "/sign-in",
            &[("email", "same@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _, body) = b.get(&app, "/account").await;
    assert_eq!(status, 200);
    assert!(body.contains("same@example.com"));
    // the API sees the page's session, and ending it there ends it for the page
    let sessions: serde_json::Value = app
        .get_auth("/v1/me/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let page_session = items.iter().find(|s| s["current"] == json!(false)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .client
        .delete(app.url(&format!("/v1/me/sessions/{page_session}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, headers, _) = b.get(&app, "/account").await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/sign-in");
    // a forged session cookie (a real session id, a made-up MAC) is nobody
    b.cookies.insert(
        "__Host-deadbolt-session".into(),
        format!("{page_session}.{}", "ab".repeat(32)),
    );
    let (status, _, _) = b.get(&app, "/account").await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn hostile_forms_get_an_answer_never_a_500() {
    let app = spawn_app().await;
    app.sign_up("hostile@example.com").await;
    let mut b = Browser::new();
    b.get(&app, "/sign-in").await;
    b.post(
        &app,
        "/sign-in",
        &[("email", "hostile@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert!(b.cookies.contains_key("__Host-deadbolt-session"));
    let long = "x".repeat(20_000);
    let posts = [
        "/sign-in",
        "/sign-in/verify",
        "/sign-in/send",
        "/sign-in/passkey",
        "/sign-up",
        "/sign-up/verify",
        "/sign-up/resend",
        "/forgot-password",
        "/forgot-password/verify",
        "/forgot-password/send",
        "/forgot-password/complete",
        "/account/mfa/primary",
        "/account/mfa/remove",
        "/account/mfa/confirm",
        "/account/mfa/resend",
        "/account/mfa/phone",
        "/account/devices/revoke",
        "/account/sessions/revoke",
        "/account/password",
        "/account/email",
        "/account/phone",
        "/account/contact/verify",
        "/account/delete",
        "/step-up/start",
        "/step-up/send",
        "/step-up/verify",
        "/admin/lookup",
        "/admin/accounts/unlock",
        "/admin/policy",
    ];
    let bodies: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![
            ("email", "not an email"),
            ("method_id", "not-a-uuid"),
            ("id", "../../etc"),
            ("op", "remove-method:nope"),
            ("code", "<script>alert(1)</script>"),
            ("credential", "{\"id\":"),
            ("challenge_id", "00000000-0000-0000-0000-000000000000"),
            ("policy", "{"),
            ("kind", "nonsense"),
            ("value", "+1"),
            ("account_id", "00000000-0000-0000-0000-000000000000"),
        ],
        vec![
            ("email", &long),
            ("password", &long),
            ("new_password", &long),
            ("code", &long),
            ("method_id", "00000000-0000-0000-0000-000000000000"),
        ],
    ];
    for path in posts {
        for fields in &bodies {
            let (status, _, body) = b.post(&app, path, fields).await;
            assert!(status < 500, "{path} {fields:?}: {status} {body}");
            assert!(!body.contains("<script>alert"), "{path}: echoed markup");
        }
        // bytes that are not a form at all
        let token = b.csrf.clone();
        let mut raw = format!("csrf={token}&email=").into_bytes();
        raw.extend([0xff, 0xfe, 0x00, b'%', b'z']);
        let (status, _, _) = b.post_raw(&app, path, ORIGIN_URL, raw).await;
        assert!(status < 500, "{path} raw bytes: {status}");
    }
    // a page path that does not exist is still an answer: a page for a browser, problem+json
    // for anything else
    assert_eq!(b.get(&app, "/account/nowhere").await.0, 404);
    let r = app
        .client
        .get(app.url("/account/nowhere"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers().contains_key("content-security-policy"));
    assert!(r.text().await.unwrap().contains("Page not found"));
    let r = app
        .client
        .get(app.url("/v1/nowhere"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(b.get(&app, "/step-up?op=../../x").await.0 < 500);
}

#[tokio::test]
async fn a_session_that_may_only_enroll_reaches_only_the_wizard() {
    let app = crate::helpers::spawn_app_with(Default::default(), |c| {
        c.mfa.enforcement = "required".into();
    })
    .await;
    app.sign_up("must@example.com").await;
    app.mark_email_verified("must@example.com").await;
    let mut b = Browser::new();
    b.get(&app, "/sign-in").await;
    let (status, headers, _) = b
        .post(
            &app,
            "/sign-in",
            &[("email", "must@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/account/mfa/new");
    let (status, _, body) = b.get(&app, "/account/mfa/new").await;
    assert_eq!(status, 200);
    assert!(body.contains("requires two-step sign-in"));
    for path in ["/account", "/admin", "/account/password"] {
        let (status, headers, _) = b.get(&app, path).await;
        assert_eq!(
            (status, &headers[LOCATION]),
            (303, &"/account/mfa/new".parse().unwrap()),
            "{path}"
        );
    }
    for path in [
        "/account/mfa/disable",
        "/account/mfa/primary",
        "/account/mfa/recovery-codes",
    ] {
        let (status, headers, _) = b.post(&app, path, &[]).await;
        assert_eq!(status, 303, "{path}");
        assert_eq!(headers[LOCATION], "/account/mfa/new", "{path}");
    }
    let (status, _, body) = b.post(&app, "/account/mfa/totp", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("Set up your authenticator app"));
}

#[tokio::test]
async fn the_step_up_dialog_carries_on_only_with_the_operation_it_was_begun_for() {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let user = app.enrolled("careful@example.com").await;
    let mut b = Browser::new();
    b.get(&app, "/sign-in").await;
    let (status, headers, _) = b
        .post(
            &app,
            "/sign-in",
            &[("email", user.email.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        (status, &headers[LOCATION]),
        (303, &"/sign-in/verify".parse().unwrap())
    );
    b.get(&app, "/sign-in/verify").await;
    let code = app.code(&user.secret);
    let (status, _, body) = b
        .post(
            &app,
            "/sign-in/verify",
            &[
                ("method_id", user.method_id.as_str()),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    app.advance(time::Duration::seconds(30));
    // new recovery codes ask for a step-up (mfa.manage)
    b.get(&app, "/account").await;
    let (status, headers, _) = b.post(&app, "/account/mfa/recovery-codes", &[]).await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/step-up?op=regenerate-codes");
    // a link to the dialog of another operation under the same action (turning MFA off) does
    // not carry on with that one: it goes back
    let (status, headers, _) = b.get(&app, "/step-up?op=disable-mfa").await;
    assert_eq!(
        (status, &headers[LOCATION]),
        (303, &"/account".parse().unwrap())
    );
    let (status, _, body) = b.get(&app, "/step-up?op=regenerate-codes").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("name=\"op\" value=\"regenerate-codes\""),
        "{body}"
    );
}

#[tokio::test]
async fn signing_in_again_ends_the_session_it_replaces() {
    let app = spawn_app().await;
    app.sign_up("twice@example.com").await;
    let mut b = Browser::new();
    let sign_in = async |b: &mut Browser| {
        b.get(&app, "/sign-in").await;
        let (status, headers, _) = b
            .post(
                &app,
                "/sign-in",
                &[("email", "twice@example.com"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(
            (status, &headers[LOCATION]),
            (303, &"/account".parse().unwrap())
        );
    };
    sign_in(&mut b).await;
    let first = b.cookies.clone();
    assert_eq!(b.get(&app, "/account").await.0, 200);
    sign_in(&mut b).await;
    assert_eq!(b.get(&app, "/account").await.0, 200);
    // the first session's cookie no longer signs anyone in
    b.cookies = first;
    let (status, headers, _) = b.get(&app, "/account").await;
    assert_eq!(status, 303);
    assert!(headers[LOCATION].to_str().unwrap().starts_with("/sign-in"));
}

#[tokio::test]
async fn a_planted_nonce_gives_no_token_for_someone_elses_session() {
    let app = spawn_app().await;
    app.sign_up("victim@example.com").await;
    let mut victim = Browser::new();
    let (status, _, _) = victim.sign_in(&app, "victim@example.com").await;
    assert_eq!(status, 303);
    // an attacker's own nonce and token (made before any sign-in), planted in the victim's
    // browser as a sibling origin on the same host could plant a cookie
    let mut attacker = Browser::new();
    attacker.get(&app, "/sign-in").await;
    let nonce = "__Host-deadbolt-csrf";
    let mut planted = Browser::new();
    planted.cookies = victim.cookies.clone();
    planted
        .cookies
        .insert(nonce.to_owned(), attacker.cookies[nonce].clone());
    planted.csrf = attacker.csrf.clone();
    let (status, _, _) = planted.post(&app, "/sign-out", &[]).await;
    assert_eq!(
        status, 403,
        "a token made for no session does not fit the victim's"
    );
    // the victim's own form still works
    victim.get(&app, "/account").await;
    let (status, headers, _) = victim.post(&app, "/sign-out", &[]).await;
    assert_eq!(status, 303);
    assert!(headers[LOCATION].to_str().unwrap().starts_with("/sign-in"));
}

#[tokio::test]
async fn the_session_cookie_is_renewed_at_a_step_up_and_a_password_change() {
    let app = spawn_app().await;
    app.sign_up("renewed@example.com").await;
    let mut b = Browser::new();
    let (status, _, _) = b.sign_in(&app, "renewed@example.com").await;
    assert_eq!(status, 303);
    let session_cookie = |b: &Browser| {
        b.cookies
            .iter()
            .find(|(k, _)| k.ends_with("session"))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let signed_in = b.cookies.clone();
    let before = session_cookie(&b);
    // the password step-up of an account without MFA, through the dialog
    b.get(&app, "/account").await;
    let (status, headers, _) = b.post(&app, "/step-up/start", &[("op", "password")]).await;
    assert_eq!(status, 303);
    let dialog = headers[LOCATION].to_str().unwrap().to_owned();
    b.get(&app, &dialog).await;
    let (status, headers, body) = b
        .post(
            &app,
            "/step-up/verify",
            &[("op", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(headers[LOCATION], "/account/password");
    let stepped_up = session_cookie(&b);
    assert_ne!(stepped_up, before, "a new session id after the step-up");
    // the cookie from before the step-up signs nobody in
    let mut old = Browser::new();
    old.cookies = signed_in;
    let (status, headers, _) = old.get(&app, "/account").await;
    assert_eq!(status, 303);
    assert!(headers[LOCATION].to_str().unwrap().starts_with("/sign-in"));
    // the grant went with the session: the password can be changed now
    b.get(&app, "/account/password").await;
    let (status, headers, body) = b
        .post(
            &app,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a different long passphrase 31"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(headers[LOCATION], "/account?notice=password");
    assert_ne!(session_cookie(&b), stepped_up, "and again after the change");
    assert_eq!(b.get(&app, "/account").await.0, 200);
}

/// The value after `marker` in `body`, up to the next `"` or `<`.
fn after<'a>(body: &'a str, marker: &str) -> &'a str {
    body.split(marker)
        .nth(1)
        .and_then(|rest| rest.split(['"', '<']).next())
        .unwrap_or_else(|| panic!("{marker} not in {body}"))
}

#[tokio::test]
async fn a_form_answered_by_a_step_up_works_with_the_renewed_session() {
    let app = spawn_app_with(
        Options {
            manual_clock: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let user = app.enrolled("second@example.com").await;
    let mut b = Browser::new();
    b.sign_in(&app, &user.email).await;
    b.get(&app, "/sign-in/verify").await;
    let code = app.code(&user.secret);
    let (status, _, body) = b
        .post(
            &app,
            "/sign-in/verify",
            &[("method_id", user.method_id.as_str()), ("code", &code)],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    app.advance(time::Duration::seconds(30));
    // a second authenticator app: the step-up dialog answers with the app's form
    b.get(&app, "/account/mfa/new").await;
    let (status, headers, _) = b.post(&app, "/account/mfa/totp", &[]).await;
    assert_eq!(
        (status, &headers[LOCATION]),
        (303, &"/step-up?op=enroll-totp".parse().unwrap())
    );
    b.get(&app, "/step-up?op=enroll-totp").await;
    let code = app.code(&user.secret);
    let (status, _, body) = b
        .post(
            &app,
            "/step-up/verify",
            &[
                ("op", "enroll-totp"),
                ("method_id", user.method_id.as_str()),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    b.csrf = after(&body, "name=\"csrf\" value=\"").to_owned();
    let method_id = after(&body, "name=\"method_id\" value=\"").to_owned();
    // shown in groups of four for typing
    let secret: String = after(&body, "id=\"totp-secret\">")
        .split_whitespace()
        .collect();
    app.advance(time::Duration::seconds(30));
    let (status, headers, body) = b
        .post(
            &app,
            "/account/mfa/confirm",
            &[
                ("method_id", method_id.as_str()),
                ("kind", "totp"),
                ("code", &crate::helpers::totp_at(&secret, app.now_unix())),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(headers[LOCATION].to_str().unwrap().starts_with("/account"));
}

#[tokio::test]
async fn the_wizard_asks_an_unverified_account_to_verify_its_address_first() {
    let app = spawn_app().await;
    app.sign_up("unproven@example.com").await;
    let mut b = Browser::new();
    let (status, _, _) = b.sign_in(&app, "unproven@example.com").await;
    assert_eq!(status, 303);
    let (status, _, body) = b.get(&app, "/account/mfa/new").await;
    assert_eq!(status, 200);
    assert!(
        body.matches("Verify your email address first.").count() >= 3,
        "{body}"
    );
    // and the form itself, posted anyway, is refused with the same words
    let (status, _, body) = b.post(&app, "/account/mfa/totp", &[]).await;
    assert_ne!(status, 200, "{body}");
    assert!(
        body.contains("Verify your email address first, with the code we sent"),
        "{body}"
    );
}
