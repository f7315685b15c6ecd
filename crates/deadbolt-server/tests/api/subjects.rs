//! The server API for products that keep their own accounts (`/v1/subjects`), as a product's
//! server meets it: authenticated as its client with HTTP Basic, it creates its subjects,
//! enrols their second factors, opens checks and verifies answers, getting an assertion it
//! checks with the published keys. Another client's subject is never reachable, and a wrong
//! code, a lockout, a replay and a spent challenge answer as they do for Deadbolt's own
//! accounts.

use crate::helpers::*;
use deadbolt_core::clock::Clock;
use deadbolt_core::oidc_client::ClientInput;
use deadbolt_usecases::system::{OsRandom, SystemClock};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use time::Duration;

/// A registered confidential client, as a product holds it.
struct Product {
    id: String,
    secret: String,
}

async fn context(app: &TestApp) -> deadbolt_usecases::Context {
    let clock: Arc<dyn Clock> = match app.clock.clone() {
        Some(manual) => manual,
        None => Arc::new(SystemClock),
    };
    deadbolt_usecases::Context::open(app.config.clone(), clock, Arc::new(OsRandom))
        .await
        .unwrap()
}

/// Registers a client as `deadbolt clients create` does.
async fn register(app: &TestApp, public: bool, alg: &str) -> deadbolt_usecases::clients::NewClient {
    let input = ClientInput {
        name: "Shop".into(),
        redirect_uris: vec!["https://shop.example/callback".into()],
        public,
        first_party: true,
        id_token_signed_response_alg: Some(alg.into()),
        ..ClientInput::default()
    };
    deadbolt_usecases::clients::create_by_operator(&context(app).await, input)
        .await
        .unwrap()
}

async fn product(app: &TestApp, alg: &str) -> Product {
    let made = register(app, false, alg).await;
    Product {
        id: made.record.client_id,
        secret: made.secret.unwrap().expose().to_owned(),
    }
}

/// Percent-encodes a path segment (every byte but the unreserved ones).
fn segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn subject(external_id: &str) -> String {
    format!("/v1/subjects/{}", segment(external_id))
}

impl TestApp {
    /// A server-API call as `p`.
    async fn as_product(
        &self,
        p: &Product,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .basic_auth(&p.id, Some(&p.secret));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn ok_as(&self, p: &Product, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.as_product(p, method.clone(), path, body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates `external_id` for `p` and enrols and confirms TOTP: the secret and method id.
    /// The clock then moves to the next time step (the confirmation spent this one).
    async fn subject_with_totp(&self, p: &Product, external_id: &str) -> (String, String) {
        let path = subject(external_id);
        self.ok_as(p, Method::PUT, &path, None).await;
        let e = self
            .ok_as(p, Method::POST, &format!("{path}/mfa/totp"), None)
            .await;
        let secret = e["secret"].as_str().unwrap().to_owned();
        let method_id = e["method_id"].as_str().unwrap().to_owned();
        let done = self
            .ok_as(
                p,
                Method::POST,
                &format!("{path}/mfa/{method_id}/confirm"),
                Some(json!({"code": self.code(&secret)})),
            )
            .await;
        assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
        self.advance(Duration::seconds(30));
        (secret, method_id)
    }

    /// Opens a check of `external_id`'s second factor: the answer.
    async fn open_check(&self, p: &Product, external_id: &str, body: Value) -> Value {
        let r = self
            .as_product(
                p,
                Method::POST,
                &format!("{}/challenges", subject(external_id)),
                Some(body),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn verify_check(
        &self,
        p: &Product,
        external_id: &str,
        challenge_id: &str,
        body: Value,
    ) -> reqwest::Response {
        let path = format!(
            "{}/challenges/{}/verify",
            subject(external_id),
            segment(challenge_id)
        );
        self.as_product(p, Method::POST, &path, Some(body)).await
    }
}

/// The subject's security events, newest first: their kinds and details, as the store keeps
/// them.
async fn events_of(app: &TestApp, p: &Product, external_id: &str) -> Vec<(String, Value)> {
    let ctx = context(app).await;
    let name = deadbolt_core::subject::ExternalId::parse(external_id).unwrap();
    let account = ctx.store.subject(&p.id, &name).await.unwrap().unwrap();
    ctx.store
        .events_of(account.id, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind.as_str().to_owned(), e.detail))
        .collect()
}

#[tokio::test]
async fn a_client_creates_updates_reads_and_deletes_its_subjects() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let path = subject("user:42");

    let r = app
        .as_product(
            &shop,
            Method::PUT,
            &path,
            Some(json!({"email": "ada@example.com", "email_verified": true, "phone_number": "+12015550123"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["external_id"], "user:42");
    assert_eq!(made["email"], "ada@example.com");
    assert_eq!(made["email_verified"], true);
    assert_eq!(made["phone_number"], "+12015550123");
    assert_eq!(made["phone_number_verified"], false);
    assert_eq!(made["mfa"]["enabled"], false);
    assert_eq!(made["mfa"]["methods"], json!([]));

    // the same again changes nothing; a field left out stays, null clears one
    let r = app.as_product(&shop, Method::PUT, &path, None).await;
    assert_eq!(r.status(), 200);
    let r = app
        .as_product(
            &shop,
            Method::PUT,
            &path,
            Some(json!({"email": null, "phone_number_verified": true})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let got = app.ok_as(&shop, Method::GET, &path, None).await;
    assert_eq!(got["email"], Value::Null);
    assert_eq!(got["email_verified"], false);
    assert_eq!(got["phone_number"], "+12015550123");
    assert_eq!(got["phone_number_verified"], true);
    assert!(got["created_at"].is_string());

    // bad contact details and unknown fields are the product's mistakes, told as such
    let r = app
        .as_product(
            &shop,
            Method::PUT,
            &path,
            Some(json!({"email": "not an address"})),
        )
        .await;
    assert_problem(r, 400, "invalid_email").await;
    let r = app
        .as_product(
            &shop,
            Method::PUT,
            &path,
            Some(json!({"phone_number": "12"})),
        )
        .await;
    assert_problem(r, 400, "invalid_phone").await;
    let r = app
        .as_product(
            &shop,
            Method::PUT,
            &path,
            Some(json!({"external_id": "43"})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;

    let r = app.as_product(&shop, Method::DELETE, &path, None).await;
    assert_eq!(r.status(), 204);
    let r = app.as_product(&shop, Method::GET, &path, None).await;
    assert_problem(r, 404, "not_found").await;
    let r = app.as_product(&shop, Method::DELETE, &path, None).await;
    assert_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn another_client_can_neither_see_nor_act_on_a_subject() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let other = product(&app, "RS256").await;
    let (secret, method_id) = app.subject_with_totp(&shop, "42").await;
    let opened = app.open_check(&shop, "42", json!({})).await;
    let challenge_id = opened["challenge_id"].as_str().unwrap();

    // the other client has no "42": every call on it is 404, the check's too
    let base = subject("42");
    for (method, path, body) in [
        (Method::GET, base.clone(), None),
        (Method::GET, format!("{base}/mfa"), None),
        (Method::DELETE, base.clone(), None),
        (Method::POST, format!("{base}/mfa/totp"), None),
        (Method::DELETE, format!("{base}/mfa/{method_id}"), None),
        (Method::POST, format!("{base}/mfa/recovery-codes"), None),
        (
            Method::PUT,
            format!("{base}/mfa/primary"),
            Some(json!({"method_id": method_id})),
        ),
        (Method::POST, format!("{base}/challenges"), Some(json!({}))),
        (
            Method::POST,
            format!("{base}/challenges/{challenge_id}/send"),
            Some(json!({"method_id": method_id})),
        ),
    ] {
        let r = app.as_product(&other, method.clone(), &path, body).await;
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    let code = app.code(&secret);
    let r = app
        .verify_check(
            &other,
            "42",
            challenge_id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    assert_problem(r, 404, "not_found").await;

    // its own "42" is another person: made anew, without the first one's factor
    let r = app.as_product(&other, Method::PUT, &base, None).await;
    assert_eq!(r.status(), 201);
    let theirs: Value = r.json().await.unwrap();
    assert_eq!(theirs["mfa"]["enabled"], false);
    let r = app
        .verify_check(
            &other,
            "42",
            challenge_id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    assert_problem(r, 404, "not_found").await;
    // nor does the challenge answer under another subject of its own client
    app.ok_as(&shop, Method::PUT, &subject("43"), None).await;
    let r = app
        .verify_check(
            &shop,
            "43",
            challenge_id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    assert_problem(r, 404, "not_found").await;
    // none of that spent or counted anything: the owner's check passes
    let r = app
        .verify_check(
            &shop,
            "42",
            challenge_id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.as_product(&shop, Method::GET, &base, None).await;
    let ours: Value = r.json().await.unwrap();
    assert_eq!(ours["mfa"]["enabled"], true);
}

#[tokio::test]
async fn only_a_live_confidential_client_with_its_secret_gets_in() {
    let app = spawn_app_with(manual(), |c| c.limits.login_failures_per_ip = 5).await;
    let shop = product(&app, "EdDSA").await;
    let path = subject("42");
    let basic = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    // no credentials, a bearer token, a malformed header: 401, nothing counted
    let r = app.get(&path).await;
    assert!(
        basic(&r).starts_with("Basic realm=\"deadbolt\""),
        "{}",
        basic(&r)
    );
    assert_problem(r, 401, "invalid_client").await;
    let access = app.access_token("someone@example.com").await;
    let r = app.get_auth(&path, &access).await;
    assert_problem(r, 401, "invalid_client").await;
    for header in ["Basic", "Basic !!!", "Basic Zm9v", "Digest x"] {
        let r = app
            .client
            .get(app.url(&path))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(r, 401, "invalid_client").await;
    }

    // a public client (it has no secret), a deleted one, a wrong secret: 401
    let public = register(&app, true, "EdDSA").await;
    let no_secret = Product {
        id: public.record.client_id,
        secret: String::new(),
    };
    let r = app.as_product(&no_secret, Method::GET, &path, None).await;
    assert!(basic(&r).starts_with("Basic"));
    assert_problem(r, 401, "invalid_client").await;
    let gone = product(&app, "EdDSA").await;
    deadbolt_usecases::clients::delete_by_operator(&context(&app).await, &gone.id)
        .await
        .unwrap();
    let r = app.as_product(&gone, Method::GET, &path, None).await;
    assert_problem(r, 401, "invalid_client").await;
    let wrong = Product {
        id: shop.id.clone(),
        secret: format!("{}x", shop.secret),
    };
    let r = app.as_product(&wrong, Method::GET, &path, None).await;
    assert_problem(r, 401, "invalid_client").await;

    // three wrong so far from this address; the limit is five, then 429 with Retry-After
    for _ in 0..2 {
        let r = app.as_product(&wrong, Method::GET, &path, None).await;
        assert_problem(r, 401, "invalid_client").await;
    }
    let r = app.as_product(&wrong, Method::GET, &path, None).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "too_many_attempts").await;
    // the right secret still answers (it cannot be guessed; junk from a shared address must
    // not shut the product out)
    let r = app.as_product(&shop, Method::PUT, &path, None).await;
    assert_eq!(r.status(), 201);
    // and the window passes; a burst of wrong ones then counts exactly: five 401s, the rest 429
    app.advance(Duration::seconds(
        app.config.limits.login_window_seconds + 1,
    ));
    let app = Arc::new(app);
    let wrong = Arc::new(wrong);
    let burst: Vec<_> = (0..12)
        .map(|_| {
            let (app, wrong, path) = (app.clone(), wrong.clone(), path.clone());
            tokio::spawn(async move {
                app.as_product(&wrong, Method::GET, &path, None)
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in burst {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [[401; 5].as_slice(), &[429; 7]].concat());
}

#[tokio::test]
async fn totp_enrolled_for_a_subject_is_checked_with_a_signed_assertion() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "RS256").await;
    let (secret, method_id) = app.subject_with_totp(&shop, "user 42").await;
    let got = app
        .ok_as(&shop, Method::GET, &subject("user 42"), None)
        .await;
    assert_eq!(got["mfa"]["enabled"], true);
    assert_eq!(got["mfa"]["primary_method_id"], method_id.as_str());
    assert_eq!(got["mfa"]["recovery_codes_remaining"], 10);

    let opened = app.open_check(&shop, "user 42", json!({})).await;
    let challenge_id = opened["challenge_id"].as_str().unwrap().to_owned();
    assert!(challenge_id.len() > 40, "an unguessable id: {challenge_id}");
    assert_eq!(opened["expires_in"], 300);
    assert_eq!(opened["method"]["id"], method_id.as_str());
    assert_eq!(opened["method"]["type"], "totp");
    assert!(opened.get("sent_to").is_none() && opened.get("resend_after").is_none());
    let types: Vec<&str> = opened["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["totp", "recovery_code"]);

    let code = app.code(&secret);
    let r = app
        .verify_check(
            &shop,
            "user 42",
            &challenge_id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["verified"], true);
    assert_eq!(done["amr"], json!(["otp", "mfa"]));
    assert_eq!(done["acr"], "aal2");
    assert_eq!(done["challenge"], json!({"purpose": "login"}));
    let (header, claims) =
        verified_by_jwks(&app, done["assertion"].as_str().unwrap(), &shop.id).await;
    assert_eq!(header.typ.as_deref(), Some("mfa-assertion+jwt"));
    assert_eq!(claims["iss"], "http://deadbolt.test");
    assert_eq!(claims["aud"], shop.id.as_str());
    assert_eq!(claims["sub"], "user 42");
    assert_eq!(claims["amr"], json!(["otp", "mfa"]));
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(claims["iat"], app.now_unix());
    assert_eq!(claims["exp"], app.now_unix() + 300);
    assert!(claims["jti"].is_string());
    assert_eq!(claims["challenge"], json!({"purpose": "login"}));

    // spent: the same challenge again is dead, as a used mfa_token is
    let r = app
        .verify_check(
            &shop,
            "user 42",
            &challenge_id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
    // the same code on a new challenge is a replay: refused as a wrong code
    let again = app.open_check(&shop, "user 42", json!({})).await;
    let again_id = again["challenge_id"].as_str().unwrap();
    let r = app
        .verify_check(
            &shop,
            "user 42",
            again_id,
            json!({"type": "totp", "code": code}),
        )
        .await;
    assert_problem(r, 401, "invalid_code").await;
    // the challenge id is no sign-in token at Deadbolt itself
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": again_id, "type": "totp", "code": code}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;

    // a step-up for the product's own action, answered with a recovery code
    app.advance(Duration::seconds(30));
    let step = app
        .open_check(&shop, "user 42", json!({"action": "payments.send"}))
        .await;
    let recovery = app
        .ok_as(
            &shop,
            Method::POST,
            &format!("{}/mfa/recovery-codes", subject("user 42")),
            None,
        )
        .await;
    let recovery = recovery["codes"][0].as_str().unwrap();
    let r = app
        .verify_check(
            &shop,
            "user 42",
            step["challenge_id"].as_str().unwrap(),
            json!({"type": "recovery_code", "code": recovery}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: Value = r.json().await.unwrap();
    assert_eq!(
        done["challenge"],
        json!({"purpose": "step_up", "action": "payments.send"})
    );
    let (_, claims) = verified_by_jwks(&app, done["assertion"].as_str().unwrap(), &shop.id).await;
    assert_eq!(claims["challenge"]["action"], "payments.send");

    // the subject's events are an account's: enrolment, checks, a refused replay
    let events = events_of(&app, &shop, "user 42").await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    for kind in [
        "subject_created",
        "mfa_method_added",
        "mfa_method_confirmed",
        "mfa_enabled",
        "login_succeeded",
        "mfa_replay_refused",
        "recovery_code_used",
        "step_up_succeeded",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let (_, signed_in) = events.iter().find(|(k, _)| k == "login_succeeded").unwrap();
    assert_eq!(signed_in["client_id"], shop.id.as_str());
    assert_eq!(signed_in["amr"], json!(["otp", "mfa"]));

    // bad action names and unknown methods are the product's mistakes
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{}/challenges", subject("user 42")),
            Some(json!({"action": "Not An Action"})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{}/challenges", subject("user 42")),
            Some(json!({"method_id": "00000000-0000-4000-8000-000000000000"})),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn wrong_codes_count_and_lock_the_subject_as_they_lock_an_account() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let (secret, method_id) = app.subject_with_totp(&shop, "42").await;
    let wrong = json!({"method_id": method_id, "code": "000000"});

    let opened = app.open_check(&shop, "42", json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap();
    for left in (0..5).rev() {
        let r = app.verify_check(&shop, "42", id, wrong.clone()).await;
        let body = assert_problem(r, 401, "invalid_code").await;
        assert_eq!(body["attempts_remaining"], left);
    }
    // five wrong codes: the challenge is dead, even for the right one
    let right = json!({"method_id": method_id, "code": app.code(&secret)});
    let r = app.verify_check(&shop, "42", id, right.clone()).await;
    assert_problem(r, 401, "mfa_token_invalid").await;

    // five more on a new challenge reach the subject's limit (ten): locked, the right code too
    let opened = app.open_check(&shop, "42", json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap();
    for _ in 0..5 {
        let r = app.verify_check(&shop, "42", id, wrong.clone()).await;
        assert_eq!(r.status(), 401);
    }
    let opened = app.open_check(&shop, "42", json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap();
    let r = app.verify_check(&shop, "42", id, right).await;
    let retry = r
        .headers()
        .get("retry-after")
        .cloned()
        .expect("Retry-After");
    let body = assert_problem(r, 429, "mfa_locked").await;
    assert_eq!(body["retry_after"].to_string(), retry.to_str().unwrap());

    // the lock ends with its window
    app.advance(Duration::seconds(901));
    let opened = app.open_check(&shop, "42", json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap();
    let r = app
        .verify_check(
            &shop,
            "42",
            id,
            json!({"method_id": method_id, "code": app.code(&secret)}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn an_emailed_code_is_sent_within_the_resend_limits_and_checked() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let path = subject("ada");
    app.ok_as(
        &shop,
        Method::PUT,
        &path,
        Some(json!({"email": "ada@example.com", "email_verified": true})),
    )
    .await;
    let e = app
        .ok_as(&shop, Method::POST, &format!("{path}/mfa/email"), None)
        .await;
    assert_eq!(e["sent_to"], "a***@example.com");
    let method_id = e["method_id"].as_str().unwrap().to_owned();
    let code = app
        .next_mail_titled("Confirm your new sign-in method")
        .await
        .code();
    let done = app
        .ok_as(
            &shop,
            Method::POST,
            &format!("{path}/mfa/{method_id}/confirm"),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(done["method"]["type"], "email");
    // the subject is told, at the address its product gave
    let notice = app.next_mail_titled("Two-step sign-in is on").await;
    assert_eq!(notice.to, ["ada@example.com"]);

    app.advance(Duration::seconds(61));
    let opened = app
        .open_check(&shop, "ada", json!({"method_id": method_id}))
        .await;
    assert_eq!(opened["sent_to"], "a***@example.com");
    let resend_after = opened["resend_after"].as_i64().unwrap();
    assert!(resend_after > 0);
    let id = opened["challenge_id"].as_str().unwrap().to_owned();
    let first = app.next_mail_titled("Your sign-in code").await.code();

    // another code at once, by a new challenge or by this one: too soon
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{path}/challenges"),
            Some(json!({"method_id": method_id})),
        )
        .await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "resend_too_soon").await;
    let send = format!("{path}/challenges/{}/send", segment(&id));
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &send,
            Some(json!({"method_id": method_id})),
        )
        .await;
    assert_problem(r, 429, "resend_too_soon").await;
    app.advance(Duration::seconds(resend_after));
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &send,
            Some(json!({"method_id": method_id})),
        )
        .await;
    assert_eq!(r.status(), 202);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["sent_to"], "a***@example.com");
    let second = app.next_mail_titled("Your sign-in code").await.code();
    assert_ne!(first, second);

    let r = app
        .verify_check(
            &shop,
            "ada",
            &id,
            json!({"method_id": method_id, "code": second}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["amr"], json!(["otp", "mfa"]));
    assert_eq!(done["method"]["type"], "email");

    // the product states a new address it has not proven: no code goes there (nor to the old
    // one), and no notice either, until it says the address is proven
    app.ok_as(
        &shop,
        Method::PUT,
        &path,
        Some(json!({"email": "someone-else@example.com"})),
    )
    .await;
    app.advance(Duration::seconds(61));
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{path}/challenges"),
            Some(json!({"method_id": method_id})),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(
        app.next_mail_within(2).await.is_none(),
        "nothing is sent to an unproven address"
    );
    app.ok_as(
        &shop,
        Method::PUT,
        &path,
        Some(json!({"email_verified": true})),
    )
    .await;
    let opened = app
        .open_check(&shop, "ada", json!({"method_id": method_id}))
        .await;
    assert_eq!(opened["sent_to"], "s***@example.com");
    assert_eq!(
        app.next_mail_titled("Your sign-in code").await.to,
        ["someone-else@example.com"]
    );
}

#[tokio::test]
async fn a_burst_of_answers_with_one_right_code_passes_once() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = Arc::new(product(&app, "EdDSA").await);
    let (secret, method_id) = app.subject_with_totp(&shop, "42").await;
    let app = Arc::new(app);
    let code = app.code(&secret);

    // one challenge, twenty answers at once
    let opened = app.open_check(&shop, "42", json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap().to_owned();
    let burst = (0..20).map(|_| {
        let (app, shop, id) = (app.clone(), shop.clone(), id.clone());
        let body = json!({"method_id": method_id, "code": code});
        tokio::spawn(async move { app.verify_check(&shop, "42", &id, body).await.status() })
    });
    let statuses: Vec<u16> = futures_statuses(burst).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );

    // twenty challenges answered at once with the next code: it passes once too (after the
    // account's failure window, which the first burst's replays may have filled: each counts
    // there, and how many are judged before the challenge dies depends on timing)
    app.advance(Duration::seconds(901));
    let code = app.code(&secret);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let opened = app.open_check(&shop, "42", json!({})).await;
        ids.push(opened["challenge_id"].as_str().unwrap().to_owned());
    }
    let burst = ids.into_iter().map(|id| {
        let (app, shop) = (app.clone(), shop.clone());
        let body = json!({"type": "totp", "code": code});
        tokio::spawn(async move { app.verify_check(&shop, "42", &id, body).await.status() })
    });
    let statuses = futures_statuses(burst).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );
}

async fn futures_statuses(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<reqwest::StatusCode>>,
) -> Vec<u16> {
    let tasks: Vec<_> = tasks.collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().as_u16());
    }
    out
}

#[tokio::test]
async fn hostile_external_ids_get_a_clear_problem_never_a_500() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let long = "x".repeat(256);
    for raw in [
        long.as_str(),
        "a\nb",
        "nul\u{0}",
        "\u{7f}",
        " 42",
        "42 ",
        "tab\t",
    ] {
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            let r = app
                .as_product(&shop, method.clone(), &subject(raw), None)
                .await;
            let body = assert_problem(r, 400, "invalid_request").await;
            assert!(
                body["detail"].as_str().unwrap().contains("external_id"),
                "{method} {raw:?}: {body}"
            );
        }
        let r = app
            .as_product(
                &shop,
                Method::POST,
                &format!("{}/challenges", subject(raw)),
                Some(json!({})),
            )
            .await;
        assert_problem(r, 400, "invalid_request").await;
    }
    // the longest name, non-ASCII ones and path characters are names like any other
    for raw in ["x".repeat(255), "Ünïcødé 😀".into(), "a/b?c#d%".into()] {
        let r = app
            .as_product(&shop, Method::PUT, &subject(&raw), None)
            .await;
        assert_eq!(r.status(), 201, "{raw:?}");
        let got = app.ok_as(&shop, Method::GET, &subject(&raw), None).await;
        assert_eq!(got["external_id"], raw.as_str());
    }
    // a segment that is no UTF-8, a malformed method or challenge id
    let r = app
        .as_product(&shop, Method::GET, "/v1/subjects/%FF%FE", None)
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .as_product(
            &shop,
            Method::DELETE,
            &format!("{}/mfa/not-a-uuid", subject("x".repeat(255).as_str())),
            None,
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    for id in ["x", &"y".repeat(2000), "sbc_%00"] {
        let r = app
            .as_product(
                &shop,
                Method::POST,
                &format!("{}/challenges/{id}/verify", subject(&"x".repeat(255))),
                Some(json!({"type": "totp", "code": "123456"})),
            )
            .await;
        assert!(
            [400, 404].contains(&r.status().as_u16()),
            "{id}: {}",
            r.status()
        );
    }
}

#[tokio::test]
async fn enrolment_for_a_subject_keeps_every_rule_but_a_sessions_step_up() {
    let mut app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let path = subject("42");
    let (_, first) = app.subject_with_totp(&shop, "42").await;

    // with MFA on, another method needs no session step-up of the client
    let e = app
        .ok_as(
            &shop,
            Method::POST,
            &format!("{path}/mfa/totp"),
            Some(json!({"label": "Spare phone"})),
        )
        .await;
    let second_secret = e["secret"].as_str().unwrap().to_owned();
    let second = e["method_id"].as_str().unwrap().to_owned();
    assert!(
        e["otpauth_uri"].as_str().unwrap().contains("42"),
        "{}",
        e["otpauth_uri"]
    );
    // confirmation by code still holds
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{path}/mfa/{second}/confirm"),
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_problem(r, 400, "invalid_code").await;
    let done = app
        .ok_as(
            &shop,
            Method::POST,
            &format!("{path}/mfa/{second}/confirm"),
            Some(json!({"code": app.code(&second_secret)})),
        )
        .await;
    assert!(done.get("recovery_codes").is_none(), "MFA was on already");
    let r = app
        .as_product(
            &shop,
            Method::PUT,
            &format!("{path}/mfa/primary"),
            Some(json!({"method_id": second})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mfa = app
        .ok_as(&shop, Method::GET, &format!("{path}/mfa"), None)
        .await;
    assert_eq!(mfa["primary_method_id"], second.as_str());
    assert_eq!(mfa["methods"].as_array().unwrap().len(), 3);

    // removing one is fine; the last one is not (a subject always keeps a second factor)
    let r = app
        .as_product(&shop, Method::DELETE, &format!("{path}/mfa/{first}"), None)
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .as_product(&shop, Method::DELETE, &format!("{path}/mfa/{second}"), None)
        .await;
    assert_problem(r, 403, "policy_requires_mfa").await;

    // factor policy: SMS is not allowed by default
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{path}/mfa/sms"),
            Some(json!({"phone": "+12015550123"})),
        )
        .await;
    assert_problem(r, 403, "factor_not_allowed").await;
    // an emailed method needs an address the product says it proved
    let r = app
        .as_product(&shop, Method::POST, &format!("{path}/mfa/email"), None)
        .await;
    assert_problem(r, 403, "email_unverified").await;
    // a subject without a factor yet has nothing to be checked with
    app.ok_as(&shop, Method::PUT, &subject("43"), None).await;
    let r = app
        .as_product(
            &shop,
            Method::POST,
            &format!("{}/challenges", subject("43")),
            Some(json!({})),
        )
        .await;
    assert_problem(r, 403, "mfa_enrollment_required").await;
    // and a subject without an address was told nothing by mail
    assert!(app.next_mail_within(1).await.is_none());
}

#[tokio::test]
async fn every_subject_path_is_in_the_openapi_document_with_client_credentials() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["client_basic"]["scheme"],
        "basic"
    );
    let paths = doc["paths"].as_object().unwrap();
    let ours: Vec<&String> = paths
        .keys()
        .filter(|p| p.starts_with("/v1/subjects"))
        .collect();
    for (path, method) in [
        ("/v1/subjects/{external_id}", "put"),
        ("/v1/subjects/{external_id}", "get"),
        ("/v1/subjects/{external_id}", "delete"),
        ("/v1/subjects/{external_id}/mfa", "get"),
        ("/v1/subjects/{external_id}/mfa/totp", "post"),
        ("/v1/subjects/{external_id}/mfa/email", "post"),
        ("/v1/subjects/{external_id}/mfa/sms", "post"),
        ("/v1/subjects/{external_id}/mfa/voice", "post"),
        ("/v1/subjects/{external_id}/mfa/webauthn", "post"),
        ("/v1/subjects/{external_id}/mfa/{method_id}/resend", "post"),
        ("/v1/subjects/{external_id}/mfa/{method_id}/confirm", "post"),
        ("/v1/subjects/{external_id}/mfa/primary", "put"),
        ("/v1/subjects/{external_id}/mfa/{method_id}", "delete"),
        ("/v1/subjects/{external_id}/mfa/recovery-codes", "post"),
        ("/v1/subjects/{external_id}/challenges", "post"),
        (
            "/v1/subjects/{external_id}/challenges/{challenge_id}/send",
            "post",
        ),
        (
            "/v1/subjects/{external_id}/challenges/{challenge_id}/verify",
            "post",
        ),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_eq!(
            op["security"],
            json!([{"client_basic": []}]),
            "{method} {path}"
        );
        let responses = op["responses"].as_object().unwrap();
        for status in ["401", "503"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} documents {status}"
            );
        }
    }
    assert_eq!(ours.len(), 15, "{ours:?}");
}

#[tokio::test]
async fn the_challenge_id_and_the_subjects_name_stay_out_of_the_metrics() {
    let app = spawn_app_with(manual(), |_| {}).await;
    let shop = product(&app, "EdDSA").await;
    let (secret, method_id) = app.subject_with_totp(&shop, "secret-name-7").await;
    let opened = app.open_check(&shop, "secret-name-7", json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap();
    let r = app
        .verify_check(
            &shop,
            "secret-name-7",
            id,
            json!({"method_id": method_id, "code": "000000"}),
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = app
        .verify_check(
            &shop,
            "secret-name-7",
            id,
            json!({"method_id": method_id, "code": app.code(&secret)}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("/v1/subjects/{external_id}/challenges/{challenge_id}/verify"));
    for leak in [id, "secret-name-7", shop.secret.as_str()] {
        assert!(!metrics.contains(leak), "{leak} in the metrics");
    }
}

#[tokio::test]
async fn a_security_key_is_enrolled_and_checked_for_a_subject() {
    let app = crate::webauthn::spawn().await;
    let shop = product(&app, "EdDSA").await;
    let path = subject("42");
    app.ok_as(&shop, Method::PUT, &path, None).await;
    let mut key = crate::webauthn::Key::new();
    let e = app
        .ok_as(&shop, Method::POST, &format!("{path}/mfa/webauthn"), None)
        .await;
    let method_id = e["method_id"].as_str().unwrap().to_owned();
    let credential = key.register(&e["public_key"]).await;
    let done = app
        .ok_as(
            &shop,
            Method::POST,
            &format!("{path}/mfa/{method_id}/confirm"),
            Some(json!({"credential": credential})),
        )
        .await;
    assert_eq!(done["method"]["type"], "webauthn");

    // the check opens with request options; the assertion answers it, once
    let opened = app.open_check(&shop, "42", json!({})).await;
    assert_eq!(opened["method"]["type"], "webauthn");
    let id = opened["challenge_id"].as_str().unwrap();
    let signed = key.sign(&opened["public_key"]).await;
    let r = app
        .verify_check(&shop, "42", id, json!({"credential": signed}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: Value = r.json().await.unwrap();
    // a synced passkey of this software authenticator: `swk` (a hardware key says `hwk`)
    assert!(
        ["hwk", "swk"].contains(&done["amr"][0].as_str().unwrap()),
        "{done}"
    );
    assert!(done["amr"].as_array().unwrap().contains(&json!("mfa")));
    assert_eq!(done["acr"], "aal2");
    let r = app
        .verify_check(&shop, "42", id, json!({"credential": signed}))
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;

    // the subject's passkey is no way into Deadbolt's own sign-in: an unknown passkey there
    let r = app.post("/v1/login/passkey/start", json!({})).await;
    let start: Value = r.json().await.unwrap();
    let assertion = key.sign(&start["public_key"]).await;
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": start["challenge_id"], "credential": assertion}),
        )
        .await;
    assert_problem(r, 400, "unknown_credential").await;
}

/// The log, as a writer the tracing subscriber appends to.
#[derive(Clone, Default)]
struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_challenge_id_client_secret_or_subject_name_is_logged() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .try_init()
        .expect(
            "this test process has no other log subscriber (nextest runs one test per process)",
        );
    let app = spawn_app_with(manual(), |c| c.log.level = "trace".into()).await;
    let shop = product(&app, "EdDSA").await;
    let name = "subject-name-9d1f";
    let (secret, method_id) = app.subject_with_totp(&shop, name).await;
    let opened = app.open_check(&shop, name, json!({})).await;
    let id = opened["challenge_id"].as_str().unwrap();
    let wrong = Product {
        id: shop.id.clone(),
        secret: "dbcs_not-the-secret".into(),
    };
    let r = app
        .as_product(&wrong, Method::GET, &subject(name), None)
        .await;
    assert_eq!(r.status(), 401);
    for code in ["000000".to_owned(), app.code(&secret)] {
        app.verify_check(
            &shop,
            name,
            id,
            json!({"method_id": method_id, "code": code}),
        )
        .await;
    }
    let r = app
        .verify_check(
            &shop,
            name,
            id,
            json!({"method_id": method_id, "code": "000000"}),
        )
        .await;
    assert_eq!(r.status(), 401, "spent");
    let logged = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(logged.contains("TRACE"), "the log was captured at trace");
    // the secrets nowhere: they never reach the database either, only their keyed hashes
    for leak in [id, shop.secret.as_str(), "dbcs_not-the-secret", &secret] {
        let lines: Vec<&str> = logged.lines().filter(|l| l.contains(leak)).collect();
        assert!(lines.is_empty(), "{leak} in the log: {lines:#?}");
    }
    // the subject's name is stored data: only tokio-postgres' own debug lines, which list every
    // query's parameters (the default level, info, shows none), name it
    let named: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains(name) && !l.contains("tokio_postgres::query"))
        .collect();
    assert!(named.is_empty(), "{name} in the log: {named:#?}");
}
