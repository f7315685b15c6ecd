//! Second factors for a product that keeps its own accounts, through the signed redirect: the
//! product checks the password itself and sends the browser to the authorization endpoint with
//! a request object (RFC 9101) signed with a key it registered, naming its user. Deadbolt shows
//! only what is missing and answers with a code whose ID token names the product's own user.
//! (The example product drives the same flow in Chromium: tests/browser/existing_accounts.test.mjs.)

use crate::browser::Browser;
use crate::helpers::*;
use crate::oidc::{
    app_input, authorize_path, challenge, exchange, follow, location, query_of, register,
    verified_id_token, Rp, CALLBACK,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::LOCATION;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use time::Duration;

/// A product's signing key: the private half it keeps, the public half it registers.
struct ProductKey {
    alg: Algorithm,
    kid: String,
    private: EncodingKey,
    public: Value,
}

impl ProductKey {
    fn ed25519(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Self {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            private: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    fn p256(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // the uncompressed point: 0x04, then x and y
        let point = pair.public_key().as_ref();
        Self {
            alg: Algorithm::ES256,
            kid: kid.into(),
            private: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public: json!({
                "kty": "EC", "crv": "P-256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
        }
    }

    fn jwks(&self) -> Value {
        json!({"keys": [self.public]})
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("oauth-authz-req+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.private).unwrap()
    }
}

/// A confidential client that signs its requests with `key`.
async fn product(app: &TestApp, key: &ProductKey) -> Rp {
    let mut input = app_input(false, true, "RS256");
    input.jwks = Some(key.jwks());
    register(app, input).await
}

/// A request object naming the product's user `external_id`, valid for five minutes.
fn request_claims(app: &TestApp, rp: &Rp, external_id: &str, extra: Value) -> Value {
    let now = app.now_unix();
    let mut claims = json!({
        "iss": rp.id, "aud": "http://deadbolt.test", "client_id": rp.id,
        "iat": now, "exp": now + 300,
        "jti": format!("jti-{}", uuid::Uuid::new_v4()),
        "response_type": "code", "redirect_uri": CALLBACK, "scope": "openid email",
        "state": "st-9", "nonce": "n-9",
        "code_challenge": challenge(), "code_challenge_method": "S256",
        "deadbolt_subject": {
            "external_id": external_id,
            "email": format!("{external_id}@product.example"),
            "email_verified": true,
        },
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    claims
}

fn signed_path(rp: &Rp, jwt: &str) -> String {
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string([
            ("client_id", rp.id.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("request", jwt),
        ])
        .unwrap()
    )
}

async fn subject_exists(app: &TestApp, rp: &Rp, external_id: &str) -> bool {
    let ctx = deadbolt_usecases::Context::open(
        app.config.clone(),
        app.clock.clone().unwrap(),
        std::sync::Arc::new(deadbolt_usecases::system::OsRandom),
    )
    .await
    .unwrap();
    deadbolt_usecases::subjects::find(&ctx, &rp.id, external_id)
        .await
        .is_ok()
}

/// The text between `start` and the next quote.
fn after<'a>(body: &'a str, start: &str) -> &'a str {
    let rest = &body[body
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {body}"))
        + start.len()..];
    &rest[..rest.find(['"', '<']).unwrap()]
}

/// In the enrolment wizard: sets up an authenticator app and confirms it; its secret.
async fn enrol_totp(b: &mut Browser, app: &TestApp) -> String {
    let (status, _, _) = b.get(app, "/account/mfa/new").await;
    assert_eq!(status, 200);
    let (status, _, body) = b.post(app, "/account/mfa/totp", &[]).await;
    assert_eq!(status, 200, "{body}");
    let method_id = after(&body, "name=\"method_id\" value=\"").to_owned();
    let secret: String = after(&body, "id=\"totp-secret\">")
        .split_whitespace()
        .collect();
    let code = totp_at(&secret, app.now_unix());
    let (status, _, body) = b
        .post(
            app,
            "/account/mfa/confirm",
            &[
                ("method_id", method_id.as_str()),
                ("kind", "totp"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(status, 200, "the recovery codes: {body}");
    assert!(
        body.contains("action=\"/oauth2/continue\""),
        "the codes page goes back to the waiting sign-in"
    );
    app.advance(Duration::seconds(30));
    secret
}

/// Answers the second-factor page with the app's current code.
async fn answer_totp(b: &mut Browser, app: &TestApp, secret: &str, trust: bool) -> String {
    let (status, _, page) = b.get(app, "/sign-in/verify").await;
    assert_eq!(status, 200, "{page}");
    let code = totp_at(secret, app.now_unix());
    let mut fields = vec![("code", code.as_str())];
    if trust {
        fields.push(("trust_device", "on"));
    }
    let (status, headers, body) = b.post(app, "/sign-in/verify", &fields).await;
    assert_eq!(status, 303, "{body}");
    app.advance(Duration::seconds(30));
    location(&headers)
}

/// The ID token a code at the callback URL gives.
async fn id_token_for(app: &TestApp, rp: &Rp, back: &str) -> Value {
    assert!(back.starts_with(CALLBACK), "{back}");
    let q = query_of(back);
    assert_eq!(q["state"], "st-9");
    let t: Value = exchange(app, rp, &q["code"]).await.json().await.unwrap();
    let claims = verified_id_token(app, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(claims["nonce"], "n-9");
    claims
}

#[tokio::test]
async fn a_products_user_enrols_once_then_answers_only_the_second_factor() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("product-1");
    let rp = product(&app, &key).await;
    let mut b = Browser::new();

    // first visit: no factor yet, so the wizard (never a password form)
    let jwt = key.sign(&request_claims(&app, &rp, "42", json!({})));
    let (status, headers, _) = b.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/account/mfa/new");
    let secret = enrol_totp(&mut b, &app).await;
    // the confirmation was this sign-in's second factor: straight back to the product
    let back = follow(&mut b, &app, "/oauth2/continue")
        .await
        .expect("back at the product");
    let claims = id_token_for(&app, &rp, &back).await;
    assert_eq!(claims["sub"], "42", "the product's own id");
    assert_eq!(
        claims["amr"],
        json!(["otp", "mfa"]),
        "no pwd: the product checked it"
    );
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(claims["email"], "42@product.example");

    // a later sign-in at the product, in the same browser: its second factor is asked again,
    // however recently the last one was (the product's sign-out does not reach Deadbolt)
    let jwt = key.sign(&request_claims(&app, &rp, "42", json!({})));
    let (_, headers, _) = b.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(location(&headers), "/sign-in/verify");

    // and in a new browser: straight to the challenge, then back
    let mut b = Browser::new();
    let jwt = key.sign(&request_claims(&app, &rp, "42", json!({})));
    let (_, headers, _) = b.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(location(&headers), "/sign-in/verify");
    let back = answer_totp(&mut b, &app, &secret, true).await;
    let back = follow(&mut b, &app, &back).await.unwrap();
    let claims = id_token_for(&app, &rp, &back).await;
    assert_eq!(claims["sub"], "42");
    assert_eq!(claims["acr"], "aal2");

    // on the device it trusted, nothing is shown at all
    b.cookies.retain(|k, _| k.contains("device"));
    let jwt = key.sign(&request_claims(&app, &rp, "42", json!({})));
    let (status, headers, _) = b.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(status, 303);
    let back = follow(&mut b, &app, &location(&headers)).await.unwrap();
    let claims = id_token_for(&app, &rp, &back).await;
    assert_eq!(claims["sub"], "42");
    assert_eq!(
        claims["acr"], "aal1",
        "a trusted device stands in for the factor"
    );

    // ...unless the product asks for a second factor now (step-up): then it is asked for
    let jwt = key.sign(&request_claims(
        &app,
        &rp,
        "42",
        json!({"acr_values": "aal2"}),
    ));
    let (_, headers, _) = b.get(&app, &signed_path(&rp, &jwt)).await;
    let asked = follow(&mut b, &app, &location(&headers)).await;
    assert_eq!(asked.expect_err("a step-up").0, "/step-up?op=authorize");
}

#[tokio::test]
async fn nothing_about_a_subject_starts_without_a_valid_signature() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::p256("p-1");
    let rp = product(&app, &key).await;
    let stranger = ProductKey::p256("p-1");
    let claims = request_claims(&app, &rp, "7", json!({}));
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let good = key.sign(&claims);
    let mut tampered_parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut changed = claims.clone();
    changed["redirect_uri"] = json!("https://evil.example/cb");
    tampered_parts[1] = URL_SAFE_NO_PAD.encode(changed.to_string());
    let tampered = tampered_parts.join(".");
    let now = app.now_unix();
    let cases = [
        ("unsigned", unsigned),
        ("another key", stranger.sign(&claims)),
        ("tampered", tampered),
        (
            "expired",
            key.sign(&request_claims(&app, &rp, "7", json!({"exp": now - 120}))),
        ),
        (
            "too long-lived",
            key.sign(&request_claims(&app, &rp, "7", json!({"exp": now + 3600}))),
        ),
        (
            "for another issuer",
            key.sign(&request_claims(
                &app,
                &rp,
                "7",
                json!({"aud": "https://other.example"}),
            )),
        ),
        (
            "no jti",
            key.sign(&request_claims(&app, &rp, "7", json!({"jti": null}))),
        ),
        ("not a JWT", "eyJ.x.y".to_owned()),
    ];
    for (what, jwt) in cases {
        let mut b = Browser::new();
        let (status, headers, body) = b.get(&app, &signed_path(&rp, &jwt)).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(headers.get(LOCATION).is_none(), "{what}: sent nowhere");
        assert!(
            body.contains("not valid") || body.contains("signed request"),
            "{what}: {body}"
        );
        assert!(b.cookies.keys().all(|k| !k.contains("session")), "{what}");
    }
    assert!(
        !subject_exists(&app, &rp, "7").await,
        "none of them made the subject"
    );
    // a valid one does (prompt=none: and says a sign-in is needed, showing nothing)
    let jwt = key.sign(&request_claims(&app, &rp, "7", json!({"prompt": "none"})));
    let (_, headers, _) = Browser::new().get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(query_of(&location(&headers))["error"], "login_required");
    assert!(subject_exists(&app, &rp, "7").await);

    // a request object from a client that registered no keys: a page, not a redirect
    let plain = register(&app, app_input(false, true, "RS256")).await;
    let jwt = key.sign(&request_claims(&app, &plain, "7", json!({})));
    let (status, headers, _) = Browser::new().get(&app, &signed_path(&plain, &jwt)).await;
    assert_eq!(status, 400);
    assert!(headers.get(LOCATION).is_none());
}

#[tokio::test]
async fn a_request_object_is_used_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("k");
    let rp = product(&app, &key).await;
    let jwt = key.sign(&request_claims(&app, &rp, "9", json!({})));
    let (status, headers, _) = Browser::new().get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(
        (status, location(&headers).as_str()),
        (303, "/account/mfa/new")
    );
    // someone who saw the link (a log, a shoulder) cannot use it to set up a factor
    let mut thief = Browser::new();
    let (status, headers, body) = thief.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("already used"));
    assert!(headers.get(LOCATION).is_none());
    let (status, _, _) = thief.get(&app, "/account/mfa/new").await;
    assert_ne!(status, 200, "no session for the thief");

    // nor can one who learnt the waiting request's id (its cookie) begin that sign-in again
    let jwt = key.sign(&request_claims(&app, &rp, "10", json!({})));
    let mut owner = Browser::new();
    let (_, headers, _) = owner.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(location(&headers), "/account/mfa/new");
    let mut copier = Browser::new();
    copier.cookies = owner
        .cookies
        .iter()
        .filter(|(k, _)| k.contains("authz"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(copier.cookies.len(), 1, "{:?}", owner.cookies.keys());
    let (status, headers, body) = copier.get(&app, "/oauth2/continue").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("already begun"));
    assert!(headers.get(LOCATION).is_none());
    assert!(copier.cookies.keys().all(|k| !k.contains("session")));
}

#[tokio::test]
async fn two_clients_ids_are_two_people_and_neither_reaches_the_other() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let (key_a, key_b) = (ProductKey::ed25519("a"), ProductKey::ed25519("b"));
    let (a, b_rp) = (product(&app, &key_a).await, product(&app, &key_b).await);

    // A's user 42 enrols TOTP
    let mut browser = Browser::new();
    let jwt = key_a.sign(&request_claims(&app, &a, "42", json!({})));
    browser.get(&app, &signed_path(&a, &jwt)).await;
    let secret = enrol_totp(&mut browser, &app).await;
    let back = follow(&mut browser, &app, "/oauth2/continue")
        .await
        .unwrap();
    assert_eq!(id_token_for(&app, &a, &back).await["sub"], "42");

    // in the same browser, B names its own 42: a different person, asked to set up a factor
    let jwt = key_b.sign(&request_claims(&app, &b_rp, "42", json!({})));
    let (_, headers, _) = browser.get(&app, &signed_path(&b_rp, &jwt)).await;
    assert_eq!(
        location(&headers),
        "/account/mfa/new",
        "not A's session, not A's factor"
    );
    // B cannot name A's subject by signing with A's client id either: its key is not A's
    let forged = key_b.sign(&request_claims(&app, &a, "42", json!({})));
    let (status, _, _) = Browser::new().get(&app, &signed_path(&a, &forged)).await;
    assert_eq!(status, 400);

    // A's subject's session serves no plain request of A's (nor any other client's)
    let mut fresh = Browser::new();
    let jwt = key_a.sign(&request_claims(&app, &a, "42", json!({})));
    fresh.get(&app, &signed_path(&a, &jwt)).await;
    let back = answer_totp(&mut fresh, &app, &secret, false).await;
    follow(&mut fresh, &app, &back).await.unwrap();
    let plain = authorize_path(&a, &[]);
    let (_, headers, _) = fresh.get(&app, &plain).await;
    assert_eq!(
        location(&headers),
        "/sign-in",
        "a subject is nobody to a plain request"
    );
    // nor is it anyone on Deadbolt's own account pages
    let (_, headers, _) = fresh.get(&app, "/account").await;
    assert_eq!(location(&headers), "/sign-in");
}

#[tokio::test]
async fn a_subject_whose_product_proved_no_address_still_sets_up_a_factor() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("k");
    let rp = product(&app, &key).await;
    for (id, subject) in [
        (
            "unproven",
            json!({"external_id": "unproven", "email": "u@product.example", "email_verified": false}),
        ),
        ("no-address", json!({"external_id": "no-address"})),
    ] {
        let mut b = Browser::new();
        let claims = request_claims(&app, &rp, id, json!({"deadbolt_subject": subject}));
        let (_, headers, _) = b.get(&app, &signed_path(&rp, &key.sign(&claims))).await;
        assert_eq!(location(&headers), "/account/mfa/new", "{id}");
        let (_, _, page) = b.get(&app, "/account/mfa/new").await;
        assert!(
            page.contains("needs an email address that has been verified"),
            "{id}: no emailed codes to an unproven address"
        );
        enrol_totp(&mut b, &app).await;
        let back = follow(&mut b, &app, "/oauth2/continue").await.unwrap();
        let claims = id_token_for(&app, &rp, &back).await;
        assert_eq!(claims["sub"], id);
        assert_eq!(claims["acr"], "aal2");
        if id == "no-address" {
            assert!(
                claims.get("email").is_none(),
                "no placeholder address leaks: {claims}"
            );
        }
    }
}

#[tokio::test]
async fn a_subject_cannot_sign_in_at_deadbolts_own_sign_in() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("k");
    let rp = product(&app, &key).await;
    let jwt = key.sign(&request_claims(&app, &rp, "ada", json!({})));
    Browser::new().get(&app, &signed_path(&rp, &jwt)).await;
    // neither by the address its product stated, nor by the row's placeholder
    let r = app
        .post(
            "/v1/login",
            json!({"email": "ada@product.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 401);
    // and the address stays free for a Deadbolt account of that person's own
    let r = app
        .post(
            "/v1/accounts",
            json!({"email": "ada@product.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

/// A subject signed up at `rp` with TOTP, through the redirect: the browser, and the secret.
async fn enrolled_subject(
    app: &TestApp,
    key: &ProductKey,
    rp: &Rp,
    subject: Value,
) -> (Browser, String) {
    let external_id = subject["external_id"].as_str().unwrap().to_owned();
    let claims = request_claims(app, rp, &external_id, json!({"deadbolt_subject": subject}));
    let mut b = Browser::new();
    let (_, headers, _) = b.get(app, &signed_path(rp, &key.sign(&claims))).await;
    assert_eq!(location(&headers), "/account/mfa/new");
    let secret = enrol_totp(&mut b, app).await;
    follow(&mut b, app, "/oauth2/continue").await.unwrap();
    (b, secret)
}

#[tokio::test]
async fn a_subjects_pending_sign_in_gives_no_token_for_deadbolts_own_api() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("k");
    let rp = product(&app, &key).await;
    let subject =
        json!({"external_id": "api", "email": "api@product.example", "email_verified": true});
    let (_, secret) = enrolled_subject(&app, &key, &rp, subject).await;
    let mut b = Browser::new();
    let jwt = key.sign(&request_claims(&app, &rp, "api", json!({})));
    let (_, headers, _) = b.get(&app, &signed_path(&rp, &jwt)).await;
    assert_eq!(location(&headers), "/sign-in/verify");
    // the pending sign-in's token, taken from the cookie and answered through the JSON API
    let token = b
        .cookies
        .iter()
        .find(|(k, _)| k.contains("pending"))
        .map(|(_, v)| v.clone())
        .expect("a pending sign-in");
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": token, "type": "totp", "code": totp_at(&secret, app.now_unix())}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    let r = app
        .post("/v1/login/mfa/challenge", json!({"mfa_token": token}))
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    // the hosted page still takes it
    let back = answer_totp(&mut b, &app, &secret, false).await;
    assert!(follow(&mut b, &app, &back)
        .await
        .unwrap()
        .starts_with(CALLBACK));
}

#[tokio::test]
async fn a_product_link_signs_nobody_out_of_deadbolt_and_a_subjects_address_clears_no_guesses() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("k");
    let rp = product(&app, &key).await;
    // a person of ours, signed in to Deadbolt in this browser
    app.signed_in("victim@example.com").await;
    let mut b = Browser::new();
    b.sign_in(&app, "victim@example.com").await;
    let (status, _, _) = b.get(&app, "/account").await;
    assert_eq!(status, 200);
    let own_session = b
        .cookies
        .iter()
        .find(|(k, _)| k.contains("session"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    // wrong passwords for that address, one short of its limit
    for _ in 0..9 {
        let r = app
            .post(
                "/v1/login",
                json!({"email": "victim@example.com", "password": "wrong password 1"}),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    // a product's user stating the same address passes its factor: the guesses stay counted
    let subject = json!({"external_id": "mallory", "email": "victim@example.com"});
    let claims = request_claims(&app, &rp, "mallory", json!({"deadbolt_subject": subject}));
    let (_, headers, _) = b.get(&app, &signed_path(&rp, &key.sign(&claims))).await;
    assert_eq!(location(&headers), "/account/mfa/new");
    let secret = enrol_totp(&mut b, &app).await;
    follow(&mut b, &app, "/oauth2/continue").await.unwrap();
    let jwt = key.sign(&request_claims(
        &app,
        &rp,
        "mallory",
        json!({"deadbolt_subject": subject}),
    ));
    b.get(&app, &signed_path(&rp, &jwt)).await;
    let back = answer_totp(&mut b, &app, &secret, false).await;
    assert!(follow(&mut b, &app, &back)
        .await
        .unwrap()
        .starts_with(CALLBACK));
    let r = app
        .post(
            "/v1/login",
            json!({"email": "victim@example.com", "password": "wrong password 2"}),
        )
        .await;
    assert_eq!(r.status(), 401, "the tenth guess");
    let r = app
        .post(
            "/v1/login",
            json!({"email": "victim@example.com", "password": "wrong password 3"}),
        )
        .await;
    assert_eq!(r.status(), 429, "the limit holds");
    // and the person's own Deadbolt session was not ended by the product's link
    let mut own = Browser::new();
    own.cookies.insert(own_session.0, own_session.1);
    let (status, _, _) = own.get(&app, "/account").await;
    assert_eq!(status, 200, "still signed in");
}

#[tokio::test]
async fn a_deleted_clients_subjects_go_with_it() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let key = ProductKey::ed25519("k");
    let rp = product(&app, &key).await;
    enrolled_subject(&app, &key, &rp, json!({"external_id": "gone"})).await;
    assert!(subject_exists(&app, &rp, "gone").await);
    let ctx = deadbolt_usecases::Context::open(
        app.config.clone(),
        app.clock.clone().unwrap(),
        std::sync::Arc::new(deadbolt_usecases::system::OsRandom),
    )
    .await
    .unwrap();
    deadbolt_usecases::clients::delete_by_operator(&ctx, &rp.id)
        .await
        .unwrap();
    assert!(!subject_exists(&app, &rp, "gone").await);
}
