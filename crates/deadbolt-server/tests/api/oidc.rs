//! Deadbolt as an OpenID Connect provider, over HTTP as a client and a browser meet it: the
//! code flow with PKCE through the hosted sign-in and its second factor, the tokens checked
//! with the published keys, refresh with rotation and reuse detection, single-use codes,
//! errors that never redirect anywhere unregistered, prompt=none, step-up for max_age and
//! acr_values, consent, revocation, introspection and logout. (Real relying-party libraries
//! drive the same flow in Chromium: tests/browser/oidc.test.mjs.)

use crate::browser::Browser;
use crate::helpers::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_core::oidc_client::ClientInput;
use reqwest::header::LOCATION;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::Duration;

pub(crate) const CALLBACK: &str = "https://rp.example/callback";
const AFTER_LOGOUT: &str = "https://rp.example/bye";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A registered client: its id and, for a confidential one, its secret.
pub(crate) struct Rp {
    pub id: String,
    pub secret: Option<String>,
}

/// Registers a client as `deadbolt clients create` does.
pub(crate) async fn register(app: &TestApp, input: ClientInput) -> Rp {
    let ctx = app.context().await;
    let made = deadbolt_usecases::clients::create_by_operator(&ctx, input)
        .await
        .unwrap();
    Rp {
        id: made.record.client_id,
        secret: made.secret.map(|s| s.expose().to_owned()),
    }
}

pub(crate) fn app_input(public: bool, first_party: bool, alg: &str) -> ClientInput {
    ClientInput {
        name: "Reading room".into(),
        redirect_uris: vec![CALLBACK.into()],
        post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
        public,
        first_party,
        grants: None,
        scopes: None,
        id_token_signed_response_alg: Some(alg.into()),
        jwks: None,
    }
}

pub(crate) fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

/// The authorization request's path with the usual parameters and `extra` ones.
pub(crate) fn authorize_path(rp: &Rp, extra: &[(&str, &str)]) -> String {
    let challenge = challenge();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &rp.id),
        ("redirect_uri", CALLBACK),
        ("scope", "openid email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, v));
    }
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(&pairs).unwrap()
    )
}

pub(crate) fn location(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The query of a URL back at the client, as pairs.
pub(crate) fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs().into_owned().collect()
}

/// The URL the "returning to the application" page sends the browser to.
pub(crate) fn leaving_url(body: &str) -> String {
    let start = body.find("url=").expect("a leaving page") + 4;
    let rest = &body[start..];
    unescape_html(&rest[..rest.find('"').unwrap()])
}

/// An attribute's text as the browser reads it (the templates escape `&`, `/` and quotes).
pub(crate) fn unescape_html(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').unwrap();
        let entity = &tail[1..end];
        out.push(match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            e => panic!("unknown entity {e}"),
        });
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Follows our own redirects until the browser is sent to the client (a 303 elsewhere, or the
/// leaving page), or a page of ours is shown: that URL, or the page's path and body.
pub(crate) async fn follow(
    b: &mut Browser,
    app: &TestApp,
    path: &str,
) -> Result<String, (String, String)> {
    let mut path = path.to_owned();
    for _ in 0..10 {
        let (status, headers, body) = b.get(app, &path).await;
        if status == 303 {
            let to = location(&headers);
            if to.starts_with('/') {
                path = to;
                continue;
            }
            return Ok(to);
        }
        if body.contains("http-equiv=\"refresh\"") {
            return Ok(leaving_url(&body));
        }
        return Err((path, body));
    }
    panic!("too many redirects")
}

/// Signs in on the hosted pages with the password and the TOTP code; where the browser goes next.
pub(crate) async fn sign_in_with_totp(
    b: &mut Browser,
    app: &TestApp,
    email: &str,
    secret: &str,
    trust: bool,
) -> String {
    let (status, headers, _) = b.sign_in(app, email).await;
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/sign-in/verify");
    b.get(app, "/sign-in/verify").await;
    let code = app.code(secret);
    let mut fields = vec![("code", code.as_str())];
    if trust {
        fields.push(("trust_device", "on"));
    }
    let (status, headers, body) = b.post(app, "/sign-in/verify", &fields).await;
    assert_eq!(status, 303, "{body}");
    app.advance(Duration::seconds(30));
    location(&headers)
}

/// The code flow from the authorization request to the code, for a user with TOTP who is not
/// signed in: the callback URL.
async fn code_by_sign_in(app: &TestApp, b: &mut Browser, rp: &Rp, user: &Enrolled) -> String {
    let hint = [("login_hint", user.email.as_str())];
    let (status, headers, _) = b.get(app, &authorize_path(rp, &hint)).await;
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/sign-in");
    let (_, _, page) = b.get(app, "/sign-in").await;
    assert!(
        page.contains(&format!("value=\"{}\"", user.email)),
        "login_hint fills in the email"
    );
    let next = sign_in_with_totp(b, app, &user.email, &user.secret, false).await;
    assert_eq!(next, "/oauth2/continue");
    follow(b, app, &next).await.expect("back at the client")
}

pub(crate) async fn token_request(
    app: &TestApp,
    rp: &Rp,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = app.client.post(app.url("/oauth2/token"));
    if let Some(secret) = &rp.secret {
        r = r.basic_auth(&rp.id, Some(secret));
    }
    let mut all: Vec<(&str, &str)> = form.to_vec();
    if rp.secret.is_none() {
        all.push(("client_id", &rp.id));
    }
    r.form(&all).send().await.unwrap()
}

pub(crate) async fn exchange(app: &TestApp, rp: &Rp, code: &str) -> reqwest::Response {
    token_request(
        app,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> reqwest::Response {
    token_request(
        app,
        rp,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

pub(crate) async fn oauth_error(r: reqwest::Response, status: u16, code: &str) {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
}

/// Checks an ID token's signature with the published key its header names, and its issuer,
/// audience and expiry (by the app's clock): its claims.
pub(crate) async fn verified_id_token(app: &TestApp, token: &str, audience: &str) -> Value {
    let (_, claims) = verified_by_jwks(app, token, audience).await;
    assert!(claims["exp"].as_i64().unwrap() > app.now_unix());
    claims
}

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let r = app.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    let iss = "http://deadbolt.test";
    assert_eq!(d["issuer"], iss);
    for (key, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(d[key], format!("{iss}{path}"), "{key}");
    }
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(d["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&"RS256".into()));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn the_code_flow_signs_in_with_the_second_factor_and_gives_verified_tokens() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("reader@example.com").await;
    let rp = register(&app, app_input(false, true, "RS256")).await;
    let mut b = Browser::new();
    let back = code_by_sign_in(&app, &mut b, &rp, &user).await;
    assert!(back.starts_with(CALLBACK), "{back}");
    let q = query_of(&back);
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], "http://deadbolt.test", "RFC 9207");
    let r = exchange(&app, &rp, &q["code"]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    let id_token = t["id_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(id_token).unwrap().alg,
        jsonwebtoken::Algorithm::RS256,
        "the client's registered algorithm"
    );
    let id = verified_id_token(&app, id_token, &rp.id).await;
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["acr"], "aal2");
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["azp"], rp.id.as_str());
    assert_eq!(id["email"], "reader@example.com");
    assert!(id["sid"].is_string());
    assert!(id["auth_time"].as_i64().unwrap() <= app.now_unix());
    let sub = id["sub"].as_str().unwrap().to_owned();

    // the access token is the client's: userinfo takes it, Deadbolt's own API does not
    let access = t["access_token"].as_str().unwrap();
    let r = app.get_auth("/oauth2/userinfo", access).await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["email"], "reader@example.com");
    assert_eq!(info["email_verified"], true);
    assert!(
        info.get("phone_number").is_none(),
        "phone was not asked for"
    );
    assert_eq!(app.get_auth("/v1/me", access).await.status(), 401);

    // refresh rotates; the old refresh token then ends the grant
    let first = t["refresh_token"].as_str().unwrap().to_owned();
    let r = refresh(&app, &rp, &first).await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let second = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let id2 = verified_id_token(&app, t2["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(id2["sub"], sub.as_str());
    assert_eq!(id2["auth_time"], id["auth_time"], "the same authentication");
    oauth_error(refresh(&app, &rp, &first).await, 400, "invalid_grant").await;
    oauth_error(refresh(&app, &rp, &second).await, 400, "invalid_grant").await;
    let r = app
        .get_auth("/oauth2/userinfo", t2["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), 401, "the grant's access tokens end with it");
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // the acr the client asked for is answered in its own words, where it is the level reached
    let urn = "urn:deadbolt:acr:aal2";
    let (_, headers, _) = b
        .get(&app, &authorize_path(&rp, &[("acr_values", urn)]))
        .await;
    let t: Value = exchange(&app, &rp, &query_of(&location(&headers))["code"])
        .await
        .json()
        .await
        .unwrap();
    let named = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(named["acr"], urn);
    // a refresh that narrows the scope to no openid gets no ID token
    let r = token_request(
        &app,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("scope", "email"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let narrowed: Value = r.json().await.unwrap();
    assert_eq!(narrowed["scope"], "email");
    assert!(narrowed.get("id_token").is_none());

    // signed in now: a second request gets its code at once, without a page
    let (status, headers, _) = b
        .get(&app, &authorize_path(&rp, &[("state", "again")]))
        .await;
    assert_eq!(status, 303);
    let back = location(&headers);
    assert!(back.starts_with(CALLBACK));
    assert_eq!(query_of(&back)["state"], "again");
}

#[tokio::test]
async fn a_code_is_single_use_short_lived_and_bound_to_its_client_uri_and_verifier() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("bound@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let other = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    let back = code_by_sign_in(&app, &mut b, &rp, &user).await;
    let code = query_of(&back)["code"].clone();

    // another client, another redirect URI, no or a wrong verifier: refused, code kept
    oauth_error(exchange(&app, &other, &code).await, 400, "invalid_grant").await;
    let wrong_uri = token_request(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    oauth_error(wrong_uri, 400, "invalid_grant").await;
    let wrong_verifier = token_request(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &"x".repeat(43)),
        ],
    )
    .await;
    oauth_error(wrong_verifier, 400, "invalid_grant").await;
    // a wrong secret is a client that failed to authenticate
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.id, Some("dbcs_wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    oauth_error(r, 401, "invalid_client").await;

    // the first right exchange works; the code used again revokes what it gave
    let r = exchange(&app, &rp, &code).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    oauth_error(exchange(&app, &rp, &code).await, 400, "invalid_grant").await;
    oauth_error(
        refresh(&app, &rp, t["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;

    // a code lives 60 seconds
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    let late = query_of(&location(&headers))["code"].clone();
    app.advance(Duration::seconds(61));
    oauth_error(exchange(&app, &rp, &late).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn an_unknown_client_or_redirect_uri_gets_a_page_and_other_errors_go_back_with_state() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = register(&app, app_input(true, true, "EdDSA")).await;
    let stranger = Rp {
        id: "dbc_unknown".into(),
        secret: None,
    };
    let mut b = Browser::new();
    for path in [
        authorize_path(&stranger, &[]),
        authorize_path(&rp, &[("redirect_uri", "https://evil.example/callback")]),
        authorize_path(&rp, &[("redirect_uri", "https://rp.example/callback/")]),
        authorize_path(&rp, &[("client_id", "")]),
    ] {
        let (status, headers, body) = b.get(&app, &path).await;
        assert_eq!(status, 400, "{path}");
        assert!(headers.get(LOCATION).is_none(), "never a redirect: {path}");
        assert!(body.contains("This sign-in link is not valid"));
        assert!(!body.contains("evil.example"));
    }
    // a parameter given twice: nobody can tell which client is meant
    let twice = format!("{}&client_id=dbc_other", authorize_path(&rp, &[]));
    let (status, headers, body) = b.get(&app, &twice).await;
    assert_eq!(status, 400);
    assert!(headers.get(LOCATION).is_none());
    assert!(body.contains("malformed"));
    for (extra, code) in [
        (vec![("response_type", "")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "email")], "invalid_scope"),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
    ] {
        let (status, headers, _) = b.get(&app, &authorize_path(&rp, &extra)).await;
        assert_eq!(status, 303, "{extra:?}");
        let back = location(&headers);
        assert!(back.starts_with(CALLBACK), "{back}");
        let q = query_of(&back);
        assert_eq!(q["error"], code, "{extra:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], "http://deadbolt.test");
    }
}

#[tokio::test]
async fn prompt_none_answers_without_showing_a_page() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("quiet@example.com").await;
    let first = register(&app, app_input(false, true, "EdDSA")).await;
    let third = register(&app, app_input(false, false, "EdDSA")).await;
    let mut b = Browser::new();
    let (status, headers, _) = b
        .get(&app, &authorize_path(&first, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    assert_eq!(query_of(&location(&headers))["error"], "login_required");

    sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    let (_, headers, _) = b
        .get(&app, &authorize_path(&first, &[("prompt", "none")]))
        .await;
    assert!(query_of(&location(&headers)).contains_key("code"));
    let (_, headers, _) = b
        .get(&app, &authorize_path(&third, &[("prompt", "none")]))
        .await;
    assert_eq!(query_of(&location(&headers))["error"], "consent_required");
    // even where it asks for more than the session shows: it learns nothing of the session
    let (_, headers, _) = b
        .get(
            &app,
            &authorize_path(&third, &[("prompt", "none"), ("max_age", "1")]),
        )
        .await;
    assert_eq!(query_of(&location(&headers))["error"], "consent_required");
    let (_, headers, _) = b
        .get(
            &app,
            &authorize_path(&first, &[("prompt", "none"), ("max_age", "10")]),
        )
        .await;
    assert_eq!(
        query_of(&location(&headers))["error"],
        "interaction_required",
        "the sign-in was 30 seconds ago"
    );
}

/// The request a consent page is for (its hidden field).
fn shown_request(page: &str) -> String {
    page.split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the request the page is for")
        .to_owned()
}

/// Answers the consent page the browser shows, for the request it shows.
async fn answer_consent(
    b: &mut Browser,
    app: &TestApp,
    decision: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let (_, _, page) = b.get(app, "/oauth2/consent").await;
    let request = shown_request(&page);
    b.post(
        app,
        "/oauth2/consent",
        &[("decision", decision), ("request", &request)],
    )
    .await
}

/// Answers the step-up dialog the browser was sent to with a TOTP code: where it goes next.
async fn step_up_with_totp(b: &mut Browser, app: &TestApp, secret: &str) -> String {
    let (status, _, body) = b.get(app, "/step-up?op=authorize").await;
    assert_eq!(status, 200, "{body}");
    let code = app.code(secret);
    let (status, headers, body) = b
        .post(
            app,
            "/step-up/verify",
            &[("op", "authorize"), ("code", &code)],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    app.advance(Duration::seconds(30));
    location(&headers)
}

#[tokio::test]
async fn acr_values_aal2_steps_up_a_trusted_device_sign_in_and_max_age_asks_again() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("careful@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    // trust this browser, sign out, sign in again with the password alone: aal1
    sign_in_with_totp(&mut b, &app, &user.email, &user.secret, true).await;
    b.get(&app, "/account").await;
    b.post(&app, "/sign-out", &[]).await;
    let (status, headers, _) = b.sign_in(&app, &user.email).await;
    assert_eq!((status, location(&headers).as_str()), (303, "/account"));

    let plain = follow(&mut b, &app, &authorize_path(&rp, &[]))
        .await
        .unwrap();
    let t: Value = exchange(&app, &rp, &query_of(&plain)["code"])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(t["id_token"].as_str().unwrap())
            .unwrap()
            .alg,
        jsonwebtoken::Algorithm::EdDSA,
        "the client's registered algorithm"
    );
    let id = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(id["acr"], "aal1");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));

    app.advance(Duration::seconds(5));
    let asked = follow(
        &mut b,
        &app,
        &authorize_path(&rp, &[("acr_values", "aal2")]),
    )
    .await;
    let (path, _) = asked.expect_err("the step-up dialog");
    assert_eq!(path, "/step-up?op=authorize");
    let next = step_up_with_totp(&mut b, &app, &user.secret).await;
    assert_eq!(next, "/oauth2/continue");
    let back = follow(&mut b, &app, &next).await.unwrap();
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    let stepped = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(stepped["acr"], "aal2");
    assert_eq!(stepped["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert!(stepped["auth_time"].as_i64() > id["auth_time"].as_i64());

    // cancelled in the dialog: the application hears access_denied
    let asked = follow(
        &mut b,
        &app,
        &authorize_path(&rp, &[("acr_values", "aal2")]),
    )
    .await;
    let (_, dialog) = asked.expect_err("the dialog");
    assert!(unescape_html(&dialog).contains("/oauth2/continue?cancel=1"));
    let back = follow(&mut b, &app, "/oauth2/continue?cancel=1")
        .await
        .unwrap();
    assert_eq!(query_of(&back)["error"], "access_denied");

    // max_age older than the last check: asked again, and auth_time is the new check's
    app.advance(Duration::seconds(120));
    let asked = follow(&mut b, &app, &authorize_path(&rp, &[("max_age", "60")])).await;
    assert_eq!(
        asked.expect_err("the dialog again").0,
        "/step-up?op=authorize"
    );
    let checked_at = app.now_unix();
    let next = step_up_with_totp(&mut b, &app, &user.secret).await;
    let back = follow(&mut b, &app, &next).await.unwrap();
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    let fresh = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(fresh["auth_time"].as_i64().unwrap(), checked_at);
}

#[tokio::test]
async fn an_account_without_a_second_factor_asked_for_aal2_sets_one_up_then_steps_up() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let tokens = app.signed_in("plain@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    b.sign_in(&app, "plain@example.com").await;
    // no second factor to step up with: the enrolment wizard, the request waiting
    let (_, headers, _) = b
        .get(&app, &authorize_path(&rp, &[("acr_values", "aal2")]))
        .await;
    assert_eq!(location(&headers), "/account/mfa/new");
    let (status, _, _) = b.get(&app, "/account/mfa/new").await;
    assert_eq!(status, 200);
    // prompt=none cannot show the wizard
    let (_, headers, _) = b
        .get(
            &app,
            &authorize_path(&rp, &[("acr_values", "aal2"), ("prompt", "none")]),
        )
        .await;
    assert_eq!(
        query_of(&location(&headers))["error"],
        "interaction_required"
    );

    // TOTP set up (here through the API), the waiting request goes on with a step-up
    let access = tokens["access_token"].as_str().unwrap();
    let r = app
        .send_auth(reqwest::Method::POST, "/v1/me/mfa/totp", access, None)
        .await;
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_owned();
    let confirm = format!("/v1/me/mfa/{}/confirm", e["method_id"].as_str().unwrap());
    let r = app
        .send_auth(
            reqwest::Method::POST,
            &confirm,
            access,
            Some(serde_json::json!({"code": app.code(&secret)})),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.advance(Duration::seconds(30));
    let asked = follow(&mut b, &app, "/oauth2/continue").await;
    assert_eq!(asked.expect_err("the dialog").0, "/step-up?op=authorize");
    let next = step_up_with_totp(&mut b, &app, &secret).await;
    let back = follow(&mut b, &app, &next).await.unwrap();
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    let id = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(id["acr"], "aal2");
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn a_third_party_client_asks_for_consent_once_until_it_is_taken_back() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("careful.reader@example.com").await;
    let rp = register(&app, app_input(false, false, "RS256")).await;
    let mut b = Browser::new();
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    assert_eq!(location(&headers), "/sign-in");
    let next = sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    let shown = follow(&mut b, &app, &next)
        .await
        .expect_err("the consent page");
    assert_eq!(shown.0, "/oauth2/consent");
    assert!(shown.1.contains("Reading room"));
    assert!(shown.1.contains("See your email address"));
    let (status, headers, _) = answer_consent(&mut b, &app, "deny").await;
    assert_eq!(status, 200);
    let _ = headers;
    // denied: the client hears access_denied
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    assert_eq!(location(&headers), "/oauth2/consent");
    let (_, _, body) = b.get(&app, "/oauth2/consent").await;
    assert!(body.contains("Allow"));
    let (status, headers, _) = answer_consent(&mut b, &app, "allow").await;
    assert_eq!(
        (status, location(&headers).as_str()),
        (303, "/oauth2/continue")
    );
    let back = follow(&mut b, &app, "/oauth2/continue").await.unwrap();
    assert!(query_of(&back).contains_key("code"));
    // remembered
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    assert!(query_of(&location(&headers)).contains_key("code"));
    // unless asked again; answered, the same request goes on
    let (_, headers, _) = b
        .get(&app, &authorize_path(&rp, &[("prompt", "consent")]))
        .await;
    assert_eq!(location(&headers), "/oauth2/consent");
    b.get(&app, "/oauth2/consent").await;
    answer_consent(&mut b, &app, "allow").await;
    let back = follow(&mut b, &app, "/oauth2/continue").await.unwrap();
    assert!(query_of(&back).contains_key("code"));

    // taken back from the account: asked again
    let r = app.get_auth("/v1/me/consents", &user.access).await;
    assert_eq!(r.status(), 200);
    let listed: Value = r.json().await.unwrap();
    assert_eq!(listed["items"][0]["client_id"], rp.id.as_str());
    assert_eq!(listed["items"][0]["client_name"], "Reading room");
    let r = app
        .send_auth(
            reqwest::Method::DELETE,
            &format!("/v1/me/consents/{}", rp.id),
            &user.access,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    assert_eq!(location(&headers), "/oauth2/consent");

    // and from the security page
    b.get(&app, "/oauth2/consent").await;
    answer_consent(&mut b, &app, "allow").await;
    let (_, _, page) = b.get(&app, "/account").await;
    assert!(page.contains("Applications you allowed") && page.contains("Reading room"));
    let (status, headers, _) = b
        .post(&app, "/account/apps/revoke", &[("client_id", &rp.id)])
        .await;
    assert_eq!(
        (status, location(&headers).as_str()),
        (303, "/account?notice=app-revoked")
    );
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    assert_eq!(location(&headers), "/oauth2/consent");
}

#[tokio::test]
async fn a_consent_answer_counts_only_for_the_request_the_page_showed() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("two.tabs@example.com").await;
    let good = register(&app, app_input(false, false, "EdDSA")).await;
    let evil = register(
        &app,
        ClientInput {
            name: "Evil".into(),
            ..app_input(false, false, "EdDSA")
        },
    )
    .await;
    let mut b = Browser::new();
    sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    b.get(&app, &authorize_path(&good, &[])).await;
    let (_, _, page) = b.get(&app, "/oauth2/consent").await;
    assert!(page.contains("Reading room"));
    let shown = shown_request(&page);
    // another site sends the browser to Evil's request meanwhile: its cookie now names that one
    b.get(&app, &authorize_path(&evil, &[])).await;
    let (status, headers, _) = b
        .post(
            &app,
            "/oauth2/consent",
            &[("decision", "allow"), ("request", &shown)],
        )
        .await;
    assert_eq!(
        (status, location(&headers).as_str()),
        (303, "/oauth2/consent")
    );
    let r = app.get_auth("/v1/me/consents", &user.access).await;
    let listed: Value = r.json().await.unwrap();
    assert_eq!(
        listed["items"],
        serde_json::json!([]),
        "nothing allowed to anyone"
    );
}

#[tokio::test]
async fn the_deny_button_tells_the_client_access_denied() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("denier@example.com").await;
    let rp = register(&app, app_input(false, false, "EdDSA")).await;
    let mut b = Browser::new();
    sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    assert_eq!(location(&headers), "/oauth2/consent");
    b.get(&app, "/oauth2/consent").await;
    let (status, _, body) = answer_consent(&mut b, &app, "deny").await;
    assert_eq!(status, 200);
    let q = query_of(&leaving_url(&body));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
}

#[tokio::test]
async fn revocation_introspection_and_the_end_of_the_browser_session() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("ends@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let public = register(&app, app_input(true, true, "EdDSA")).await;
    let mut b = Browser::new();
    let back = code_by_sign_in(&app, &mut b, &rp, &user).await;
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().unwrap();
    let refresh_token = t["refresh_token"].as_str().unwrap();

    let introspect = |token: String, rp: &Rp| {
        let mut r = app.client.post(app.url("/oauth2/introspect"));
        if let Some(s) = &rp.secret {
            r = r.basic_auth(&rp.id, Some(s));
        }
        let mut form = vec![("token".to_owned(), token)];
        if rp.secret.is_none() {
            form.push(("client_id".to_owned(), rp.id.clone()));
        }
        r.form(&form).send()
    };
    let r = introspect(access.to_owned(), &rp).await.unwrap();
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], rp.id.as_str());
    assert_eq!(i["acr"], "aal2");
    let i: Value = introspect(refresh_token.to_owned(), &rp)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i["active"], true);
    assert!(
        i.get("token_type").is_none(),
        "a refresh token is no Bearer token"
    );
    // another client learns nothing from a token it got hold of
    let other = register(&app, app_input(false, true, "EdDSA")).await;
    let i: Value = introspect(access.to_owned(), &other)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i, serde_json::json!({"active": false}));
    // a public client cannot introspect
    let r = introspect(access.to_owned(), &public).await.unwrap();
    oauth_error(r, 401, "invalid_client").await;

    // revoking the refresh token ends its access tokens too
    let r = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let i: Value = introspect(access.to_owned(), &rp)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i, serde_json::json!({"active": false}));
    oauth_error(
        refresh(&app, &rp, refresh_token).await,
        400,
        "invalid_grant",
    )
    .await;
    // an unknown token is revoked without complaint (RFC 7009)
    let r = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("token", "nothing")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // a new grant; then the person signs out of Deadbolt: the client's tokens end with it
    let (_, headers, _) = b.get(&app, &authorize_path(&rp, &[])).await;
    let t: Value = exchange(&app, &rp, &query_of(&location(&headers))["code"])
        .await
        .json()
        .await
        .unwrap();
    b.get(&app, "/account").await;
    let (status, _, _) = b.post(&app, "/sign-out", &[]).await;
    assert_eq!(status, 303);
    oauth_error(
        refresh(&app, &rp, t["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
    let r = app
        .get_auth("/oauth2/userinfo", t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn logout_with_the_id_token_signs_out_and_returns_only_to_a_registered_uri() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("leaver@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    let back = code_by_sign_in(&app, &mut b, &rp, &user).await;
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    let hint = t["id_token"].as_str().unwrap();

    // somewhere unregistered: a page, and still signed in
    let bad = format!(
        "/oauth2/logout?{}",
        serde_urlencoded::to_string([
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .unwrap()
    );
    let (status, headers, _) = b.get(&app, &bad).await;
    assert_eq!(status, 400);
    assert!(headers.get(LOCATION).is_none());
    // an access token signed with the same keys is no ID token, so no hint
    let not_a_hint = format!(
        "/oauth2/logout?{}",
        serde_urlencoded::to_string([("id_token_hint", t["access_token"].as_str().unwrap())])
            .unwrap()
    );
    let (status, _, _) = b.get(&app, &not_a_hint).await;
    assert_eq!(status, 400);
    // without a hint: asked first
    let (status, _, body) = b.get(&app, "/oauth2/logout").await;
    assert_eq!(status, 200);
    assert!(body.contains("sign-out-confirm"));

    let good = format!(
        "/oauth2/logout?{}",
        serde_urlencoded::to_string([
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "bye-1"),
        ])
        .unwrap()
    );
    let (status, _, body) = b.get(&app, &good).await;
    assert_eq!(status, 200);
    let then = leaving_url(&body);
    assert_eq!(then, format!("{AFTER_LOGOUT}?state=bye-1"));
    // signed out: the pages ask for a sign-in, the client's refresh token is dead
    let (_, headers, _) = b.get(&app, "/account").await;
    assert_eq!(location(&headers), "/sign-in");
    oauth_error(
        refresh(&app, &rp, t["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn hostile_token_requests_get_oauth_errors_never_a_500() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let secret = rp.secret.clone().unwrap();
    let post = |body: &'static str, ctype: &'static str, basic: bool| {
        let mut r = app
            .client
            .post(app.url("/oauth2/token"))
            .header("content-type", ctype)
            .body(body);
        if basic {
            r = r.basic_auth(&rp.id, Some(&secret));
        }
        r.send()
    };
    for (body, ctype, basic, status, code) in [
        (
            "grant_type=authorization_code",
            "application/json",
            true,
            400,
            "invalid_request",
        ),
        (
            "grant_type=a&grant_type=b",
            "application/x-www-form-urlencoded",
            true,
            400,
            "invalid_request",
        ),
        (
            "grant_type=password",
            "application/x-www-form-urlencoded",
            true,
            400,
            "unsupported_grant_type",
        ),
        (
            "grant_type=authorization_code&code=nope",
            "application/x-www-form-urlencoded",
            true,
            400,
            "invalid_grant",
        ),
        (
            "grant_type=refresh_token&refresh_token=ort_nope",
            "application/x-www-form-urlencoded",
            true,
            400,
            "invalid_grant",
        ),
        (
            "grant_type=authorization_code",
            "application/x-www-form-urlencoded",
            false,
            401,
            "invalid_client",
        ),
        (
            "%zz=%",
            "application/x-www-form-urlencoded",
            true,
            400,
            "invalid_request",
        ),
    ] {
        let r = post(body, ctype, basic).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], code, "{body}");
    }
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .header("authorization", "Basic !!!")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    oauth_error(r, 401, "invalid_client").await;
    let r = app.get("/oauth2/userinfo").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = app.get_auth("/oauth2/userinfo", "not.a.token").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_burst_of_exchanges_of_one_code_gives_tokens_once_and_then_revokes_them() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("burst@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    let back = code_by_sign_in(&app, &mut b, &rp, &user).await;
    let code = query_of(&back)["code"].clone();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url) = (app.client.clone(), app.url("/oauth2/token"));
        let (id, secret, code) = (rp.id.clone(), rp.secret.clone(), code.clone());
        set.spawn(async move {
            let r = client
                .post(url)
                .basic_auth(id, secret)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", VERIFIER),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        });
    }
    let mut issued = Vec::new();
    while let Some(answer) = set.join_next().await {
        match answer.unwrap() {
            (200, tokens) => issued.push(tokens),
            (400, e) => assert_eq!(e["error"], "invalid_grant"),
            (other, body) => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(issued.len(), 1, "one exchange alone issues tokens");
    // the code came back seven times: what it gave is revoked
    oauth_error(
        refresh(&app, &rp, issued[0]["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn basic_op_variants_post_requests_secret_post_userinfo_forms_and_a_query_in_the_redirect_uri(
) {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("variants@example.com").await;
    let with_query = "https://rp.example/cb?tenant=7";
    let rp = register(
        &app,
        ClientInput {
            redirect_uris: vec![with_query.into()],
            ..app_input(false, true, "RS256")
        },
    )
    .await;
    let mut b = Browser::new();
    sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    // a POSTed request without a nonce, with parameters this service does not know
    let form = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", rp.id.as_str()),
        ("redirect_uri", with_query),
        ("scope", "openid email phone"),
        ("display", "popup"),
        ("ui_locales", "fr"),
        ("claims_locales", "fr"),
        ("id_token_hint", "ignored"),
    ])
    .unwrap();
    let r = b
        .request(b.client.post(app.url("/oauth2/authorize")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    // it goes on as a GET, which carries the browser's SameSite=Lax session cookie
    assert_eq!(r.status(), 303);
    let as_get = location(r.headers());
    assert!(as_get.starts_with("/oauth2/authorize?response_type=code"));
    let (status, headers, _) = b.get(&app, &as_get).await;
    assert_eq!(status, 303);
    let back = location(&headers);
    assert!(
        back.starts_with("https://rp.example/cb?tenant=7&code="),
        "{back}"
    );
    let code = query_of(&back)["code"].clone();

    // client_secret_post, and no PKCE on either side
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", with_query),
            ("client_id", rp.id.as_str()),
            ("client_secret", rp.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let id = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert!(id.get("nonce").is_none());
    let access = t["access_token"].as_str().unwrap();

    // userinfo by POST: the token in the header, or in the form, never both
    let r = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["email"], user.email.as_str());
    let r = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn prompt_login_shows_the_sign_in_page_to_a_signed_in_browser() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("again@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    // another application holds tokens from this browser's session
    let other = register(&app, app_input(false, true, "EdDSA")).await;
    let (_, headers, _) = b.get(&app, &authorize_path(&other, &[])).await;
    let held: Value = exchange(&app, &other, &query_of(&location(&headers))["code"])
        .await
        .json()
        .await
        .unwrap();
    app.advance(Duration::seconds(10));
    let asked = app.now_unix();
    let (_, headers, _) = b
        .get(&app, &authorize_path(&rp, &[("prompt", "login")]))
        .await;
    assert_eq!(location(&headers), "/sign-in?again=1");
    let (status, _, body) = b.get(&app, "/sign-in?again=1").await;
    assert_eq!(status, 200, "the form, although signed in");
    assert!(body.contains("name=\"password\""));
    let next = sign_in_with_totp(&mut b, &app, &user.email, &user.secret, false).await;
    assert_eq!(next, "/oauth2/continue");
    let back = follow(&mut b, &app, &next).await.unwrap();
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    let id = verified_id_token(&app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert!(id["auth_time"].as_i64().unwrap() >= asked);
    // a new sign-in replaced the session: what the other application held from the old one
    // ended with it, and a silent request gets it a new code from the new session
    oauth_error(
        refresh(&app, &other, held["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
    let (_, headers, _) = b
        .get(&app, &authorize_path(&other, &[("prompt", "none")]))
        .await;
    assert!(query_of(&location(&headers)).contains_key("code"));
    // without a waiting request the sign-in page sends a signed-in browser home
    let (_, headers, _) = b.get(&app, "/sign-in?again=1").await;
    assert_eq!(location(&headers), "/account");
}

#[tokio::test]
async fn a_new_password_ends_what_every_application_holds() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let user = app.enrolled("changer@example.com").await;
    let rp = register(&app, app_input(false, true, "EdDSA")).await;
    let mut b = Browser::new();
    let back = code_by_sign_in(&app, &mut b, &rp, &user).await;
    let t: Value = exchange(&app, &rp, &query_of(&back)["code"])
        .await
        .json()
        .await
        .unwrap();
    app.step_up_totp(&user.access, "password.change", &user.secret)
        .await;
    let r = app
        .send_auth(
            reqwest::Method::POST,
            "/v1/me/password",
            &user.access,
            Some(serde_json::json!({
                "current_password": PASSWORD,
                "new_password": "an entirely new passphrase for this account",
            })),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    oauth_error(
        refresh(&app, &rp, t["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
    let r = app
        .get_auth("/oauth2/userinfo", t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), 401);
}
