//! WebAuthn security keys and passkeys, driven through the HTTP API by a software client and
//! authenticator that are not ours (1Password's `passkey-client` / `passkey-authenticator`).

use crate::helpers::*;
use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::{webauthn, Passkey};
use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

const RP_ID: &str = "deadbolt.test";
const ORIGIN: &str = "https://deadbolt.test";

/// A user at an authenticator: always present; verified (PIN, biometric) when `verifies`.
struct Person {
    verifies: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: verification && self.verifies,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verifies)
    }
}

type SoftClient = Client<
    Option<Passkey>,
    Person,
    passkey_crypto::AvailableBackend,
    public_suffix::PublicSuffixList,
    (),
>;

/// One software authenticator holding one credential, with the browser-side client in front.
pub struct Key {
    client: SoftClient,
}

impl Key {
    pub fn new() -> Self {
        Self::with(Aaguid::new_empty(), true, false)
    }

    pub fn with(aaguid: Aaguid, verifies: bool, counter: bool) -> Self {
        let mut authenticator = Authenticator::new(
            aaguid,
            None,
            Person { verifies },
            passkey_crypto::AvailableBackend,
        );
        authenticator.set_make_credentials_with_signature_counter(counter);
        Self {
            client: Client::new(authenticator),
        }
    }

    /// Answers creation options (PublicKeyCredentialCreationOptionsJSON) from `origin`.
    pub async fn register_at(&mut self, origin: &str, public_key: &Value) -> Value {
        let options: webauthn::CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": public_key }))
                .expect("the client reads the creation options");
        let origin = url::Url::parse(origin).unwrap();
        let created = self
            .client
            .register(&origin, options, DefaultClientData)
            .await
            .expect("the authenticator makes a credential");
        serde_json::to_value(created).unwrap()
    }

    pub async fn register(&mut self, public_key: &Value) -> Value {
        self.register_at(ORIGIN, public_key).await
    }

    /// Answers request options (PublicKeyCredentialRequestOptionsJSON) from `origin`.
    pub async fn sign_at(&mut self, origin: &str, public_key: &Value) -> Value {
        let options: webauthn::CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": public_key }))
                .expect("the client reads the request options");
        let origin = url::Url::parse(origin).unwrap();
        let asserted = self
            .client
            .authenticate(&origin, options, DefaultClientData)
            .await
            .expect("the authenticator signs");
        serde_json::to_value(asserted).unwrap()
    }

    pub async fn sign(&mut self, public_key: &Value) -> Value {
        self.sign_at(ORIGIN, public_key).await
    }

    /// Winds the credential's signature counter back, as a clone of the key would have it.
    pub fn wind_back_counter(&mut self, to: u32) {
        let passkey = self
            .client
            .authenticator_mut()
            .store_mut()
            .as_mut()
            .expect("a credential");
        passkey.counter = Some(to);
    }
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

async fn spawn_with(configure: impl FnOnce(&mut deadbolt_server::Config)) -> TestApp {
    spawn_app_with(
        Options {
            manual_clock: true,
            ..Options::default()
        },
        |c| {
            c.webauthn.rp_id = RP_ID.into();
            c.webauthn.rp_origin = ORIGIN.into();
            configure(c);
        },
    )
    .await
}

/// Starts a key enrolment: (method_id, creation options).
async fn begin_enrolment(app: &TestApp, access: &str, label: Option<&str>) -> (String, Value) {
    let body = label.map(|l| json!({ "label": l }));
    let r = app
        .send_auth(Method::POST, "/v1/me/mfa/webauthn", access, body)
        .await;
    assert_eq!(r.status(), 201, "enroll: {}", r.text().await.unwrap());
    let e: Value = r.json().await.unwrap();
    let method_id = e["method_id"].as_str().unwrap().to_owned();
    assert!(e["public_key"]["challenge"].is_string(), "{e}");
    (method_id, e["public_key"].clone())
}

async fn confirm(
    app: &TestApp,
    access: &str,
    method_id: &str,
    credential: Value,
) -> reqwest::Response {
    app.send_auth(
        Method::POST,
        &format!("/v1/me/mfa/{method_id}/confirm"),
        access,
        Some(json!({ "credential": credential })),
    )
    .await
}

/// Enrolls `key` on the signed-in account: its method id and the confirmation's body.
async fn enroll(
    app: &TestApp,
    access: &str,
    key: &mut Key,
    label: Option<&str>,
) -> (String, Value) {
    let (method_id, options) = begin_enrolment(app, access, label).await;
    let credential = key.register(&options).await;
    let r = confirm(app, access, &method_id, credential).await;
    assert_eq!(r.status(), 200, "confirm: {}", r.text().await.unwrap());
    (method_id, r.json().await.unwrap())
}

/// A fresh account with one key: (email, access token, method id).
async fn account_with_key(app: &TestApp, email: &str, key: &mut Key) -> (String, String) {
    let access = app.access_token(email).await;
    let (method_id, _) = enroll(app, &access, key, Some("Blue key")).await;
    (access, method_id)
}

/// The login challenge's request options for `method_id`.
async fn login_options(app: &TestApp, mfa_token: &str, method_id: &str) -> Value {
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 200, "challenge: {}", r.text().await.unwrap());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["public_key"]["challenge"], body["challenge"], "{body}");
    body["public_key"].clone()
}

async fn verify_key(app: &TestApp, mfa_token: &str, credential: Value) -> reqwest::Response {
    app.post(
        "/v1/login/mfa/verify",
        json!({"mfa_token": mfa_token, "type": "webauthn", "credential": credential}),
    )
    .await
}

async fn events_of(app: &TestApp, access: &str) -> Vec<String> {
    let events: Value = app
        .get_auth("/v1/me/events", access)
        .await
        .json()
        .await
        .unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_security_key_is_registered_and_signs_in_as_the_second_factor() {
    let app = spawn().await;
    let mut key = Key::new();
    let access = app.access_token("key@example.com").await;
    let (method_id, options) = begin_enrolment(&app, &access, Some("Blue key")).await;
    assert_eq!(options["rp"]["id"], RP_ID);
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "preferred"
    );
    // the user handle is random, not the account id or the email
    let handle = options["user"]["id"].as_str().unwrap();
    assert!(!handle.is_empty() && !handle.contains("key@example.com"));
    let credential = key.register(&options).await;
    let r = confirm(&app, &access, &method_id, credential).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"]["type"], "webauthn");
    assert_eq!(body["method"]["label"], "Blue key");
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);

    let overview: Value = app
        .get_auth("/v1/me/mfa", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["enabled"], true);
    assert_eq!(overview["primary_method_id"], method_id.as_str());

    let r = app.login("key@example.com", PASSWORD).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    let offered = &body["methods"][0];
    assert_eq!(offered["type"], "webauthn");
    assert_eq!(offered["label"], "Blue key");
    let mfa_token = body["mfa_token"].as_str().unwrap();
    let options = login_options(&app, mfa_token, &method_id).await;
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);
    let assertion = key.sign(&options).await;
    let r = verify_key(&app, mfa_token, assertion).await;
    assert_eq!(r.status(), 200, "verify: {}", r.text().await.unwrap());
    let tokens: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, tokens["access_token"].as_str().unwrap()).await;
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"pwd") && amr.contains(&"mfa"), "{amr:?}");
    assert!(amr.contains(&"hwk") || amr.contains(&"swk"), "{amr:?}");
    assert_eq!(claims["acr"], "aal2");

    // the same mfa_token is spent
    let r = verify_key(&app, mfa_token, json!({})).await;
    assert_ne!(r.status(), 200);
}

#[tokio::test]
async fn two_labelled_keys_each_sign_in_and_the_second_needs_a_step_up() {
    let app = spawn().await;
    let mut blue = Key::new();
    let mut red = Key::new();
    let (access, blue_id) = account_with_key(&app, "two@example.com", &mut blue).await;

    // MFA is on: adding another authenticator needs step-up mfa.manage
    let r = app
        .send_auth(
            Method::POST,
            "/v1/me/mfa/webauthn",
            &access,
            Some(json!({"label": "Red key"})),
        )
        .await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    step_up_with_key(&app, &access, "mfa.manage", &blue_id, &mut blue).await;
    let (red_id, _) = enroll(&app, &access, &mut red, Some("Red key")).await;

    let overview: Value = app
        .get_auth("/v1/me/mfa", &access)
        .await
        .json()
        .await
        .unwrap();
    let labels: Vec<&str> = overview["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "webauthn")
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Blue key", "Red key"]);

    // the red key becomes the primary method: offered first
    let r = app
        .send_auth(
            Method::PUT,
            "/v1/me/mfa/primary",
            &access,
            Some(json!({"method_id": red_id})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app.login("two@example.com", PASSWORD).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["methods"][0]["id"], red_id.as_str());
    assert_eq!(body["methods"][0]["label"], "Red key");
    assert_eq!(body["methods"][0]["primary"], true);

    // either key answers; the red one names its own method
    let mfa_token = app.mfa_token("two@example.com").await;
    let options = login_options(&app, &mfa_token, &red_id).await;
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 2);
    let assertion = red.sign(&options).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "webauthn", "method_id": red_id, "credential": assertion}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // a key's assertion under the other key's method id is not that method's credential
    let mfa_token = app.mfa_token("two@example.com").await;
    let options = login_options(&app, &mfa_token, &blue_id).await;
    let assertion = red.sign(&options).await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "webauthn", "method_id": blue_id, "credential": assertion}),
        )
        .await;
    assert_problem(r, 400, "unknown_credential").await;

    // removing a key is a step-up action too
    let path = format!("/v1/me/mfa/{red_id}");
    let r = app.send_auth(Method::DELETE, &path, &access, None).await;
    assert_problem(r, 401, "insufficient_user_authentication").await;
    step_up_with_key(&app, &access, "mfa.manage", &blue_id, &mut blue).await;
    let r = app.send_auth(Method::DELETE, &path, &access, None).await;
    assert_eq!(r.status(), 204);
}

/// Steps up `action` with `key`.
async fn step_up_with_key(
    app: &TestApp,
    access: &str,
    action: &str,
    method_id: &str,
    key: &mut Key,
) -> Value {
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up",
            access,
            Some(json!({"action": action})),
        )
        .await;
    let begin: Value = r.json().await.unwrap();
    assert_eq!(begin["satisfied"], false, "{begin}");
    assert!(begin["methods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["type"] == "webauthn"));
    let challenge_token = begin["challenge_token"].as_str().unwrap();
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/challenge",
            access,
            Some(json!({"challenge_token": challenge_token, "method_id": method_id})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let options: Value = r.json().await.unwrap();
    let assertion = key.sign(&options).await;
    let r = app
        .send_auth(
            Method::POST,
            "/v1/step-up/verify",
            access,
            Some(json!({"challenge_token": challenge_token, "type": "webauthn", "credential": assertion})),
        )
        .await;
    assert_eq!(r.status(), 200, "step-up: {}", r.text().await.unwrap());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["satisfied"], true);
    assert_eq!(body["action"], action);
    body
}

#[tokio::test]
async fn a_step_up_is_satisfied_by_a_key() {
    let app = spawn().await;
    let mut key = Key::new();
    let (access, method_id) = account_with_key(&app, "stepup@example.com", &mut key).await;
    let body = step_up_with_key(&app, &access, "account.delete", &method_id, &mut key).await;
    let claims = verified_claims(&app, body["step_up_token"].as_str().unwrap()).await;
    assert_eq!(claims["action"], "account.delete");
    assert_eq!(claims["acr"], "aal2");
    let r = app.send_auth(Method::DELETE, "/v1/me", &access, None).await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let app = spawn().await;
    let mut key = Key::new();
    let (_, method_id) = account_with_key(&app, "replay@example.com", &mut key).await;
    let mfa_token = app.mfa_token("replay@example.com").await;
    let options = login_options(&app, &mfa_token, &method_id).await;
    let assertion = key.sign(&options).await;
    let r = verify_key(&app, &mfa_token, assertion.clone()).await;
    assert_eq!(r.status(), 200);

    // the same assertion for a new sign-in (with its own fresh challenge) does not pass
    let mfa_token = app.mfa_token("replay@example.com").await;
    let _fresh = login_options(&app, &mfa_token, &method_id).await;
    let r = verify_key(&app, &mfa_token, assertion).await;
    let body = assert_problem(r, 401, "invalid_code").await;
    assert_eq!(body["attempts_remaining"], 4);

    // nor an unused answer made for another sign-in's challenge
    let other_token = app.mfa_token("replay@example.com").await;
    let other_options = login_options(&app, &other_token, &method_id).await;
    let for_other = key.sign(&other_options).await;
    let r = verify_key(&app, &mfa_token, for_other).await;
    assert_problem(r, 401, "invalid_code").await;

    // nor does a genuine answer to a challenge that was already answered (once, wrongly)
    let options = login_options(&app, &mfa_token, &method_id).await;
    let good = key.sign(&options).await;
    let mut tampered = good.clone();
    tampered["response"]["signature"] = json!("AAAA");
    let r = verify_key(&app, &mfa_token, tampered).await;
    assert_problem(r, 401, "invalid_code").await;
    let r = verify_key(&app, &mfa_token, good).await;
    let body = assert_problem(r, 401, "invalid_code").await;
    assert_eq!(body["attempts_remaining"], 1);
    // the fifth failure kills the mfa_token
    let options = login_options(&app, &mfa_token, &method_id).await;
    let mut tampered = key.sign(&options).await;
    tampered["response"]["signature"] = json!("AAAA");
    let r = verify_key(&app, &mfa_token, tampered).await;
    assert_problem(r, 401, "invalid_code").await;
    let r = app
        .post(
            "/v1/login/mfa/challenge",
            json!({"mfa_token": mfa_token, "method_id": method_id}),
        )
        .await;
    assert_problem(r, 401, "mfa_token_invalid").await;
}

#[tokio::test]
async fn a_credential_from_another_origin_is_refused() {
    let app = spawn().await;
    let mut key = Key::new();
    let access = app.access_token("origin@example.com").await;
    let (method_id, options) = begin_enrolment(&app, &access, None).await;
    let phished = key
        .register_at("https://evil.deadbolt.test", &options)
        .await;
    let r = confirm(&app, &access, &method_id, phished).await;
    assert_problem(r, 400, "wrong_origin").await;

    let (method_id, _) = enroll(&app, &access, &mut key, None).await;
    let mfa_token = app.mfa_token("origin@example.com").await;
    let options = login_options(&app, &mfa_token, &method_id).await;
    let phished = key.sign_at("https://evil.deadbolt.test", &options).await;
    let r = verify_key(&app, &mfa_token, phished).await;
    assert_problem(r, 401, "invalid_code").await;
}

#[tokio::test]
async fn an_extra_origin_from_config_is_accepted() {
    let app =
        spawn_with(|c| c.webauthn.extra_origins = vec!["https://app.deadbolt.test".into()]).await;
    let mut key = Key::new();
    let access = app.access_token("extra@example.com").await;
    let (method_id, options) = begin_enrolment(&app, &access, None).await;
    let credential = key.register_at("https://app.deadbolt.test", &options).await;
    let r = confirm(&app, &access, &method_id, credential).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn an_expired_ceremony_is_refused_clearly() {
    let app = spawn_with(|c| c.webauthn.ceremony_timeout_seconds = 60).await;
    let mut key = Key::new();
    let access = app.access_token("late@example.com").await;
    let (method_id, options) = begin_enrolment(&app, &access, None).await;
    let credential = key.register(&options).await;
    app.advance(Duration::seconds(61));
    let r = confirm(&app, &access, &method_id, credential).await;
    assert_problem(r, 400, "ceremony_expired").await;

    let (method_id, _) = enroll(&app, &access, &mut key, None).await;
    let mfa_token = app.mfa_token("late@example.com").await;
    let options = login_options(&app, &mfa_token, &method_id).await;
    let assertion = key.sign(&options).await;
    app.advance(Duration::seconds(61));
    let r = verify_key(&app, &mfa_token, assertion).await;
    assert_problem(r, 400, "ceremony_expired").await;

    let r = app.post("/v1/login/passkey/start", json!({})).await;
    let start: Value = r.json().await.unwrap();
    let assertion = key.sign(&start["public_key"]).await;
    app.advance(Duration::seconds(61));
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": start["challenge_id"], "credential": assertion}),
        )
        .await;
    assert_problem(r, 400, "ceremony_expired").await;
}

#[tokio::test]
async fn an_unknown_credential_is_refused_clearly() {
    let app = spawn().await;
    let mut mine = Key::new();
    let mut theirs = Key::new();
    let (_, method_id) = account_with_key(&app, "mine@example.com", &mut mine).await;
    account_with_key(&app, "theirs@example.com", &mut theirs).await;
    let mut stranger = Key::new();
    let other = app.access_token("stranger@example.com").await;
    // a credential made but never confirmed is not registered
    let (_, options) = begin_enrolment(&app, &other, None).await;
    stranger.register(&options).await;

    let mfa_token = app.mfa_token("mine@example.com").await;
    let mut options = login_options(&app, &mfa_token, &method_id).await;
    options.as_object_mut().unwrap().remove("allowCredentials");
    let foreign = theirs.sign(&options).await;
    let r = verify_key(&app, &mfa_token, foreign).await;
    assert_problem(r, 400, "unknown_credential").await;

    let r = app.post("/v1/login/passkey/start", json!({})).await;
    let start: Value = r.json().await.unwrap();
    let assertion = stranger.sign(&start["public_key"]).await;
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": start["challenge_id"], "credential": assertion}),
        )
        .await;
    assert_problem(r, 400, "unknown_credential").await;
}

#[tokio::test]
async fn a_malformed_credential_is_a_400_not_a_500() {
    let app = spawn().await;
    let mut key = Key::new();
    let access = app.access_token("junk@example.com").await;
    let (pending, options) = begin_enrolment(&app, &access, None).await;
    let good = key.register(&options).await;
    let mut bad_b64 = good.clone();
    bad_b64["response"]["attestationObject"] = json!("!!not base64!!");
    let mut truncated = good.clone();
    truncated["response"]["clientDataJSON"] = json!("e30");
    let junk = [
        json!("a string"),
        json!(42),
        json!({}),
        json!({"id": "x", "rawId": "x", "type": "public-key", "response": {}}),
        bad_b64,
        truncated,
        json!([good.clone()]),
    ];
    for credential in &junk {
        let r = confirm(&app, &access, &pending, credential.clone()).await;
        assert_problem(r, 400, "invalid_credential").await;
    }
    // the genuine one still confirms: junk does not spend the ceremony
    let r = confirm(&app, &access, &pending, good).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let mfa_token = app.mfa_token("junk@example.com").await;
    for credential in &junk {
        let r = verify_key(&app, &mfa_token, credential.clone()).await;
        assert_problem(r, 400, "invalid_credential").await;
        let r = app
            .post(
                "/v1/login/passkey/finish",
                json!({"challenge_id": uuid::Uuid::new_v4(), "credential": credential}),
            )
            .await;
        assert_problem(r, 400, "invalid_credential").await;
    }
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": "nope", "credential": {}}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let r = app
        .post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "webauthn"}),
        )
        .await;
    assert_problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused_recorded_and_told() {
    let mut app = spawn().await;
    let mut key = Key::with(Aaguid::new_empty(), true, true);
    let (access, method_id) = account_with_key(&app, "clone@example.com", &mut key).await;
    // counter 1 after the first sign-in
    let mfa_token = app.mfa_token("clone@example.com").await;
    let options = login_options(&app, &mfa_token, &method_id).await;
    let r = verify_key(&app, &mfa_token, key.sign(&options).await).await;
    assert_eq!(r.status(), 200);

    while app.next_mail_within(1).await.is_some() {}
    key.wind_back_counter(0);
    let mfa_token = app.mfa_token("clone@example.com").await;
    let options = login_options(&app, &mfa_token, &method_id).await;
    let r = verify_key(&app, &mfa_token, key.sign(&options).await).await;
    assert_problem(r, 401, "invalid_code").await;
    assert!(events_of(&app, &access)
        .await
        .contains(&"webauthn_sign_count_regressed".to_owned()));
    let mut told = false;
    while let Some(mail) = app.next_mail_within(10).await {
        if mail.subject == "A security key may have been copied" {
            assert_eq!(mail.to, ["clone@example.com"]);
            told = true;
            break;
        }
    }
    assert!(told, "the user is emailed");

    // a counter that moves forward again passes
    key.wind_back_counter(5);
    let mfa_token = app.mfa_token("clone@example.com").await;
    let options = login_options(&app, &mfa_token, &method_id).await;
    let r = verify_key(&app, &mfa_token, key.sign(&options).await).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_passkey_signs_in_without_a_username_as_two_factors() {
    let app = spawn().await;
    let mut key = Key::new();
    account_with_key(&app, "passkey@example.com", &mut key).await;
    let r = app.post("/v1/login/passkey/start", json!({})).await;
    assert_eq!(r.status(), 200);
    let start: Value = r.json().await.unwrap();
    assert_eq!(start["public_key"]["userVerification"], "required");
    assert!(start["public_key"]
        .get("allowCredentials")
        .is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)));
    let assertion = key.sign(&start["public_key"]).await;
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": start["challenge_id"], "credential": assertion.clone()}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let tokens: Value = r.json().await.unwrap();
    let claims = verified_claims(&app, tokens["access_token"].as_str().unwrap()).await;
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"user") && amr.contains(&"mfa"), "{amr:?}");
    assert!(amr.contains(&"hwk") || amr.contains(&"swk"), "{amr:?}");
    assert!(!amr.contains(&"pwd"), "{amr:?}");
    assert_eq!(claims["acr"], "aal2");
    let me: Value = app
        .get_auth("/v1/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "passkey@example.com");

    // the challenge answered once
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": start["challenge_id"], "credential": assertion}),
        )
        .await;
    assert_problem(r, 400, "ceremony_expired").await;
}

#[tokio::test]
async fn a_passkey_without_user_verification_is_refused() {
    let app = spawn().await;
    let mut key = Key::new();
    let (access, _) = account_with_key(&app, "nouv@example.com", &mut key).await;
    let r = app.post("/v1/login/passkey/start", json!({})).await;
    let start: Value = r.json().await.unwrap();
    // a client that skips the PIN or biometric the server asked for
    let mut options = start["public_key"].clone();
    options["userVerification"] = json!("discouraged");
    let assertion = key.sign(&options).await;
    let r = app
        .post(
            "/v1/login/passkey/finish",
            json!({"challenge_id": start["challenge_id"], "credential": assertion}),
        )
        .await;
    let body = assert_problem(r, 401, "invalid_code").await;
    assert!(body["attempts_remaining"].is_number());
    assert!(events_of(&app, &access)
        .await
        .contains(&"mfa_challenge_failed".to_owned()));
}

#[tokio::test]
async fn a_password_reset_takes_a_key_as_its_second_factor() {
    let mut app = spawn().await;
    let mut key = Key::new();
    verified_account(&mut app, "resetkey@example.com").await;
    let access = {
        let r = app.login("resetkey@example.com", PASSWORD).await;
        let b: Value = r.json().await.unwrap();
        b["access_token"].as_str().unwrap().to_owned()
    };
    let (method_id, _) = enroll(&app, &access, &mut key, None).await;
    while app.next_mail_within(1).await.is_some() {}
    app.post(
        "/v1/password-reset",
        json!({"email": "resetkey@example.com"}),
    )
    .await;
    let mut code = None;
    while let Some(mail) = app.next_mail_within(10).await {
        if mail.subject == "Reset your password" {
            code = Some(mail.code());
            break;
        }
    }
    let r = app
        .post(
            "/v1/password-reset/verify",
            json!({"email": "resetkey@example.com", "code": code.unwrap()}),
        )
        .await;
    let verified: Value = r.json().await.unwrap();
    assert_eq!(verified["mfa_required"], true);
    let reset_token = verified["reset_token"].as_str().unwrap();
    let r = app
        .post(
            "/v1/password-reset/challenge",
            json!({"reset_token": reset_token, "method_id": method_id}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let options: Value = r.json().await.unwrap();
    let assertion = key.sign(&options).await;
    let r = app
        .post(
            "/v1/password-reset/complete",
            json!({"reset_token": reset_token, "new_password": "a different horse battery staple", "type": "webauthn", "credential": assertion}),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = app
        .login("resetkey@example.com", "a different horse battery staple")
        .await;
    assert_eq!(r.status(), 200);
}

impl Key {
    /// A key that signs with ES256 only (so the test can sign its attestation).
    fn es256(aaguid: Aaguid) -> Self {
        let mut key = Self::with(aaguid, true, false);
        key.client
            .authenticator_mut()
            .set_algorithms(&[passkey_crypto::iana::Algorithm::ES256])
            .unwrap();
        key
    }

    /// Turns the authenticator's `none` attestation into a `packed` self attestation, signed
    /// with the credential's own key as WebAuthn L3 §8.2 describes (the software authenticator
    /// only makes `none`).
    fn self_attest(&self, mut registration: Value) -> Value {
        use base64::Engine as _;
        use p256::ecdsa::signature::Signer as _;
        use sha2::Digest as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let field = |name: &str| {
            b64.decode(registration["response"][name].as_str().unwrap())
                .unwrap()
        };
        let auth_data = field("authenticatorData");
        let client_data_hash = sha2::Sha256::digest(field("clientDataJSON"));
        let passkey = self.client.authenticator().store().as_ref().unwrap();
        let d = passkey
            .key
            .params
            .iter()
            .find(|(label, _)| *label == passkey_crypto::coset::Label::Int(-4))
            .and_then(|(_, v)| v.as_bytes())
            .expect("the private scalar");
        let signing = p256::ecdsa::SigningKey::from_slice(d).unwrap();
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&client_data_hash);
        let sig: p256::ecdsa::Signature = signing.sign(&signed);
        let sig = sig.to_der().as_bytes().to_vec();
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            match b.len() {
                n if n < 24 => out.push(0x40 | n as u8),
                n if n < 256 => out.extend([0x58, n as u8]),
                n => out.extend([0x59, (n >> 8) as u8, n as u8]),
            }
            out.extend_from_slice(b);
        }
        // {"fmt": "packed", "attStmt": {"alg": -7, "sig": sig}, "authData": authData}, in
        // CTAP2 canonical order
        let mut object = vec![0xa3, 0x63];
        object.extend(b"fmt");
        object.push(0x66);
        object.extend(b"packed");
        object.push(0x67);
        object.extend(b"attStmt");
        object.extend([0xa2, 0x63]);
        object.extend(b"alg");
        object.extend([0x26, 0x63]);
        object.extend(b"sig");
        bytes(&mut object, &sig);
        object.push(0x68);
        object.extend(b"authData");
        bytes(&mut object, &auth_data);
        registration["response"]["attestationObject"] = json!(b64.encode(object));
        registration
    }
}

#[tokio::test]
async fn attestation_can_be_required_with_an_aaguid_allow_list() {
    let listed = Aaguid([7; 16]);
    let listed_id = uuid::Uuid::from_bytes([7; 16]).to_string();
    let app = spawn_with(|c| {
        c.webauthn.attestation = "required".into();
        c.webauthn.allowed_aaguids = vec![listed_id];
    })
    .await;
    let access = app.access_token("attest@example.com").await;

    // a listed model that does not attest is refused
    let mut bare = Key::es256(listed);
    let (method_id, options) = begin_enrolment(&app, &access, Some("Listed")).await;
    assert_eq!(options["attestation"], "direct");
    let registration = bare.register(&options).await;
    let r = confirm(&app, &access, &method_id, registration).await;
    assert_problem(r, 400, "attestation_refused").await;
    // a listed model that attests is accepted
    let mut good = Key::es256(listed);
    let (method_id, options) = begin_enrolment(&app, &access, Some("Listed")).await;
    let registration = good.register(&options).await;
    let attested = good.self_attest(registration);
    let r = confirm(&app, &access, &method_id, attested).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // a model that is not on the list is refused, attestation or not
    let access = app.access_token("other-model@example.com").await;
    let mut other = Key::es256(Aaguid([9; 16]));
    let (method_id, options) = begin_enrolment(&app, &access, None).await;
    let registration = other.register(&options).await;
    let attested = other.self_attest(registration);
    let r = confirm(&app, &access, &method_id, attested).await;
    let body = assert_problem(r, 400, "attestation_refused").await;
    assert!(body["detail"].as_str().unwrap().contains("allow list"));
    let overview: Value = app
        .get_auth("/v1/me/mfa", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["enabled"], false);
}

#[tokio::test]
async fn by_default_any_authenticator_is_accepted_without_attestation() {
    let app = spawn().await;
    let access = app.access_token("anykey@example.com").await;
    let (method_id, options) = begin_enrolment(&app, &access, None).await;
    assert_eq!(options["attestation"], "none");
    let mut key = Key::with(Aaguid([9; 16]), true, false);
    let r = confirm(&app, &access, &method_id, key.register(&options).await).await;
    assert_eq!(r.status(), 200);
}
