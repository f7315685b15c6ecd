//! Secrets never at rest, in logs or in answers: a whole account life (sign-up, TOTP, recovery
//! codes, an email code, a security key, a trusted device, an API key, step-up, refresh, a
//! password reset, and a few mistakes) with every log line at `trace` captured, then a search
//! of the database (the SQLite file, its WAL and shared memory, or every PostgreSQL table), the
//! log, every error body and every read-back body for each secret the test saw. The mail the
//! server sends is the one place a code may be.

use crate::helpers::*;
use crate::webauthn::Key;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use time::Duration;

const EMAIL: &str = "life@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase 2026";

/// The log, as a writer the tracing subscriber appends to.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Captures every event of every crate at `trace`, the server's and its libraries' (the
    /// `log` records of tokio-postgres and lettre included). Without timestamps: their
    /// microseconds would be six-digit numbers.
    fn capture() -> Self {
        let log = Self::default();
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
        log
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

/// One secret in the forms it could take at rest.
struct Secret {
    name: String,
    forms: Vec<Vec<u8>>,
    /// A short code: only a number standing alone counts (one digit more or less is another
    /// number), so that a timestamp or an id that happens to contain it does not.
    standalone_number: bool,
}

#[derive(Default)]
struct Secrets(Vec<Secret>);

impl Secrets {
    fn text(&mut self, name: &str, value: &str) {
        assert!(!value.is_empty(), "{name} is empty");
        let mut forms = vec![value.as_bytes().to_vec()];
        // a code typed with or without its separators, in either case
        let bare: String = value
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        for form in [bare.clone(), bare.to_lowercase(), bare.to_uppercase()] {
            if form.len() >= 8 && !forms.contains(&form.as_bytes().to_vec()) {
                forms.push(form.into_bytes());
            }
        }
        self.0.push(Secret {
            name: name.to_owned(),
            forms,
            standalone_number: false,
        });
    }

    fn code(&mut self, name: &str, digits: &str) {
        assert!(digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()));
        self.0.push(Secret {
            name: name.to_owned(),
            forms: vec![digits.as_bytes().to_vec()],
            standalone_number: true,
        });
    }

    fn bytes(&mut self, name: &str, raw: &[u8]) {
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        self.0.push(Secret {
            name: name.to_owned(),
            forms: vec![raw.to_vec(), hex.into_bytes()],
            standalone_number: false,
        });
    }

    /// Every secret found in `haystack`, named with the place.
    fn found_in(&self, place: &str, haystack: &[u8]) -> Vec<String> {
        let mut hits = Vec::new();
        for secret in &self.0 {
            if secret
                .forms
                .iter()
                .any(|f| contains(haystack, f, secret.standalone_number))
            {
                hits.push(format!("{} in {place}", secret.name));
            }
        }
        hits
    }
}

fn contains(haystack: &[u8], needle: &[u8], standalone_number: bool) -> bool {
    haystack.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle
            && (!standalone_number
                || ((i == 0 || !haystack[i - 1].is_ascii_digit())
                    && haystack
                        .get(i + needle.len())
                        .is_none_or(|b| !b.is_ascii_digit())))
    })
}

/// The test's side of the conversation: every answer's body is kept, errors and read-backs
/// apart from the answers that hand a secret out.
struct Life {
    app: TestApp,
    secrets: Secrets,
    /// Bodies that must never hold a secret: every error, and every listing read back.
    clean_bodies: Vec<(String, String)>,
}

impl Life {
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_keeping(method, path, token, body, false).await
    }

    /// [`Life::call`], keeping the body as one that must be clean even when it is a success.
    async fn call_keeping(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        keep: bool,
    ) -> (u16, Value) {
        let mut req = self.app.client.request(method.clone(), self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if keep || status >= 400 || method == Method::GET {
            self.clean_bodies
                .push((format!("{method} {path} ({status})"), text.clone()));
        }
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value)
    }

    async fn ok(&mut self, method: Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let (status, value) = self.call(method, path, token, Some(body)).await;
        assert!(status < 300, "{path}: {status} {value}");
        value
    }

    /// The code in the next mail with `subject`.
    async fn mailed_code(&mut self, subject: &str) -> String {
        loop {
            let mail = self.app.next_mail_to(EMAIL).await;
            if mail.subject == subject {
                return mail.code();
            }
        }
    }

    fn totp(&self, secret: &str) -> String {
        self.app.code(secret)
    }

    /// A step-up of `action` with TOTP: the step-up token.
    async fn step_up(&mut self, access: &str, action: &str, secret: &str) -> String {
        let begin = self
            .ok(
                Method::POST,
                "/v1/step-up",
                Some(access),
                json!({"action": action}),
            )
            .await;
        if begin["satisfied"] == true {
            return begin["step_up_token"].as_str().unwrap().to_owned();
        }
        let code = self.totp(secret);
        self.secrets.code("a step-up TOTP code", &code);
        let done = self
            .ok(
                Method::POST,
                "/v1/step-up/verify",
                Some(access),
                json!({"challenge_token": begin["challenge_token"], "type": "totp", "code": code}),
            )
            .await;
        self.app.advance(Duration::seconds(30));
        let token = done["step_up_token"].as_str().unwrap().to_owned();
        self.secrets.text("a step-up token", &token);
        token
    }

    /// A password login answered with an mfa_token.
    async fn first_step(&mut self, password: &str) -> String {
        let body = self
            .ok(
                Method::POST,
                "/v1/login",
                None,
                json!({"email": EMAIL, "password": password}),
            )
            .await;
        assert_eq!(body["mfa_required"], true, "{body}");
        let token = body["mfa_token"].as_str().unwrap().to_owned();
        self.secrets.text("an mfa_token", &token);
        token
    }

    /// Keeps the tokens of a signed-in answer as secrets.
    fn keep_tokens(&mut self, body: &Value) -> String {
        let access = body["access_token"].as_str().unwrap().to_owned();
        self.secrets.text("an access token", &access);
        self.secrets
            .text("a refresh token", body["refresh_token"].as_str().unwrap());
        if let Some(device) = body["device_token"].as_str() {
            self.secrets.text("a device token", device);
        }
        access
    }
}

/// Everything the database holds, as bytes: the SQLite file with its WAL and shared memory, or
/// every row of every PostgreSQL table as text.
async fn database_contents(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let url = &app.config.database.url;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut files = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{path}{suffix}");
            if let Ok(bytes) = std::fs::read(&file) {
                files.push((file, bytes));
            }
        }
        assert!(!files.is_empty(), "no database file at {path}");
        files
    } else {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let tables = client
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        for row in tables {
            let table: String = row.get(0);
            let rows = client
                .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                .await
                .unwrap();
            let text: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
            out.push((format!("table {table}"), text.join("\n").into_bytes()));
        }
        assert!(out.len() > 10, "the schema has its tables");
        out
    }
}

#[tokio::test]
async fn no_secret_is_kept_logged_or_echoed_through_a_whole_account_life() {
    let log = Log::capture();
    let app = spawn_app_with(manual(), |c| {
        c.webauthn.rp_id = "deadbolt.test".into();
        c.webauthn.rp_origin = "https://deadbolt.test".into();
        c.log.level = "trace".into();
    })
    .await;
    let mut life = Life {
        app,
        secrets: Secrets::default(),
        clean_bodies: Vec::new(),
    };
    life.secrets.text("the password", PASSWORD);
    life.secrets.text("the new password", NEW_PASSWORD);

    // sign-up and the emailed proof of the address
    life.ok(
        Method::POST,
        "/v1/accounts",
        None,
        json!({"email": EMAIL, "password": PASSWORD}),
    )
    .await;
    let code = life.mailed_code("Verify your email address").await;
    life.secrets.code("the address's verification code", &code);
    life.ok(
        Method::POST,
        "/v1/accounts/verify",
        None,
        json!({"email": EMAIL, "channel": "email", "code": code}),
    )
    .await;
    let body = life
        .ok(
            Method::POST,
            "/v1/login",
            None,
            json!({"email": EMAIL, "password": PASSWORD}),
        )
        .await;
    let access = life.keep_tokens(&body);

    // TOTP and the recovery codes it turns on
    let enrolment = life
        .ok(Method::POST, "/v1/me/mfa/totp", Some(&access), json!({}))
        .await;
    let totp_secret = enrolment["secret"].as_str().unwrap().to_owned();
    life.secrets.text("the TOTP secret", &totp_secret);
    life.secrets.bytes(
        "the TOTP key",
        &data_encoding::BASE32_NOPAD
            .decode(totp_secret.as_bytes())
            .unwrap(),
    );
    let code = life.totp(&totp_secret);
    life.secrets.code("the TOTP confirmation code", &code);
    let confirmed = life
        .ok(
            Method::POST,
            &format!(
                "/v1/me/mfa/{}/confirm",
                enrolment["method_id"].as_str().unwrap()
            ),
            Some(&access),
            json!({"code": code}),
        )
        .await;
    life.app.advance(Duration::seconds(30));
    let recovery_codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery_codes.len(), 10);
    for c in &recovery_codes {
        life.secrets.text("a recovery code", c);
    }

    // an email method, then a security key, each added under a step-up
    let step_up_token = life.step_up(&access, "mfa.manage", &totp_secret).await;
    assert!(!step_up_token.is_empty());
    let email_method = life
        .ok(Method::POST, "/v1/me/mfa/email", Some(&access), json!({}))
        .await;
    let email_method_id = email_method["method_id"].as_str().unwrap().to_owned();
    let code = life.mailed_code("Confirm your new sign-in method").await;
    life.secrets
        .code("the email method's confirmation code", &code);
    life.ok(
        Method::POST,
        &format!("/v1/me/mfa/{email_method_id}/confirm"),
        Some(&access),
        json!({"code": code}),
    )
    .await;
    life.step_up(&access, "mfa.manage", &totp_secret).await;
    let mut key = Key::new();
    let begin = life
        .ok(
            Method::POST,
            "/v1/me/mfa/webauthn",
            Some(&access),
            json!({"label": "Blue key"}),
        )
        .await;
    let key_method_id = begin["method_id"].as_str().unwrap().to_owned();
    let credential = key.register(&begin["public_key"]).await;
    life.ok(
        Method::POST,
        &format!("/v1/me/mfa/{key_method_id}/confirm"),
        Some(&access),
        json!({"credential": credential}),
    )
    .await;

    // sign-ins: TOTP trusting the device, the device standing in, an emailed code, a recovery
    // code, the key
    let mfa_token = life.first_step(PASSWORD).await;
    let code = life.totp(&totp_secret);
    life.secrets.code("a login TOTP code", &code);
    let body = life
        .ok(
            Method::POST,
            "/v1/login/mfa/verify",
            None,
            json!({"mfa_token": mfa_token, "type": "totp", "code": code, "trust_device": true}),
        )
        .await;
    life.app.advance(Duration::seconds(30));
    life.keep_tokens(&body);
    let device_token = body["device_token"].as_str().unwrap().to_owned();
    let body = life
        .ok(
            Method::POST,
            "/v1/login",
            None,
            json!({"email": EMAIL, "password": PASSWORD, "device_token": device_token}),
        )
        .await;
    assert_eq!(
        body["mfa_required"], false,
        "the trusted device stands in: {body}"
    );
    life.keep_tokens(&body);

    let mfa_token = life.first_step(PASSWORD).await;
    life.ok(
        Method::POST,
        "/v1/login/mfa/challenge",
        None,
        json!({"mfa_token": mfa_token, "method_id": email_method_id}),
    )
    .await;
    let code = life.mailed_code("Your sign-in code").await;
    life.secrets.code("an emailed sign-in code", &code);
    let body = life
        .ok(
            Method::POST,
            "/v1/login/mfa/verify",
            None,
            json!({"mfa_token": mfa_token, "type": "email", "method_id": email_method_id, "code": code}),
        )
        .await;
    life.keep_tokens(&body);

    let mfa_token = life.first_step(PASSWORD).await;
    let body = life
        .ok(
            Method::POST,
            "/v1/login/mfa/verify",
            None,
            json!({"mfa_token": mfa_token, "type": "recovery_code", "code": recovery_codes[0]}),
        )
        .await;
    life.keep_tokens(&body);

    let mfa_token = life.first_step(PASSWORD).await;
    let options = life
        .ok(
            Method::POST,
            "/v1/login/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "method_id": key_method_id}),
        )
        .await;
    let assertion = key.sign(&options["public_key"]).await;
    let body = life
        .ok(
            Method::POST,
            "/v1/login/mfa/verify",
            None,
            json!({"mfa_token": mfa_token, "type": "webauthn", "credential": assertion}),
        )
        .await;
    let access = life.keep_tokens(&body);

    // a refresh, an API key used once, and the listings read back
    let refreshed = life
        .ok(
            Method::POST,
            "/v1/token/refresh",
            None,
            json!({"refresh_token": body["refresh_token"]}),
        )
        .await;
    let access = {
        life.keep_tokens(&refreshed);
        let _ = access;
        refreshed["access_token"].as_str().unwrap().to_owned()
    };
    let created = life
        .ok(
            Method::POST,
            "/v1/me/api-keys",
            Some(&access),
            json!({"name": "ci"}),
        )
        .await;
    let api_key = created["key"].as_str().unwrap().to_owned();
    life.secrets.text("the API key", &api_key);
    let introspected = life
        .ok(
            Method::POST,
            "/v1/api-keys/introspect",
            None,
            json!({"key": api_key}),
        )
        .await;
    assert_eq!(introspected["active"], true);
    for path in [
        "/v1/me",
        "/v1/me/mfa",
        "/v1/me/api-keys",
        "/v1/me/devices",
        "/v1/me/sessions",
        "/v1/me/events?limit=100",
    ] {
        let (status, _) = life.call(Method::GET, path, Some(&access), None).await;
        assert_eq!(status, 200, "{path}");
    }

    // an administrator registers a confidential OpenID Connect client and rotates its secret
    let (admin, admin_totp) = admin_signed_in(&life.app, "root@example.com").await;
    life.secrets.text("the admin's access token", &admin);
    life.secrets.text("the admin's TOTP secret", &admin_totp);
    life.app.advance(Duration::seconds(30));
    life.step_up(&admin, "client.manage", &admin_totp).await;
    let client = life
        .ok(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            json!({"name": "Shop", "redirect_uris": ["https://shop.example/cb"], "public": false,
                   "first_party": true, "grants": ["authorization_code", "refresh_token"]}),
        )
        .await;
    life.secrets
        .text("a client secret", client["client_secret"].as_str().unwrap());
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    life.step_up(&admin, "client.manage", &admin_totp).await;
    let rotated = life
        .ok(
            Method::POST,
            &format!("/v1/admin/clients/{client_id}/secret"),
            Some(&admin),
            json!({}),
        )
        .await;
    life.secrets.text(
        "a rotated client secret",
        rotated["client_secret"].as_str().unwrap(),
    );
    let (status, _) = life
        .call(Method::GET, "/v1/admin/clients", Some(&admin), None)
        .await;
    assert_eq!(status, 200);

    // mistakes: each answer is an error body that must not echo what was sent
    let wrong = [
        (
            "/v1/login",
            json!({"email": EMAIL, "password": "wrong password, echoed?"}),
            "a wrong password",
        ),
        (
            "/v1/token/refresh",
            json!({"refresh_token": body["refresh_token"]}),
            "a spent refresh token",
        ),
        (
            "/v1/api-keys/introspect",
            json!({"key": format!("{api_key}x")}),
            "a wrong API key",
        ),
        (
            "/v1/password-reset/verify",
            json!({"email": EMAIL, "code": "987654"}),
            "a wrong reset code",
        ),
    ];
    for (path, body, what) in wrong {
        let (status, answer) = life
            .call_keeping(Method::POST, path, None, Some(body), true)
            .await;
        // introspection answers a wrong key with 200 {"active": false}
        assert!(
            status >= 400 || answer["active"] == false,
            "{what} was accepted"
        );
    }
    life.secrets
        .text("a wrong password", "wrong password, echoed?");
    life.secrets.text("a wrong API key", &format!("{api_key}x"));
    let mfa_token = life.first_step(PASSWORD).await;
    let wrong_recovery = format!("{}-oops", recovery_codes[1]);
    life.secrets
        .text("a mistyped recovery code", &wrong_recovery);
    let (status, _) = life
        .call(
            Method::POST,
            "/v1/login/mfa/verify",
            None,
            Some(json!({"mfa_token": mfa_token, "type": "recovery_code", "code": wrong_recovery})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = life
        .call(
            Method::GET,
            "/v1/me",
            Some(&format!("{access}tampered")),
            None,
        )
        .await;
    assert_eq!(status, 401);

    // a password reset, with TOTP as the second factor
    life.ok(
        Method::POST,
        "/v1/password-reset",
        None,
        json!({"email": EMAIL}),
    )
    .await;
    let code = life.mailed_code("Reset your password").await;
    life.secrets.code("the reset code", &code);
    let verified = life
        .ok(
            Method::POST,
            "/v1/password-reset/verify",
            None,
            json!({"email": EMAIL, "code": code}),
        )
        .await;
    let reset_token = verified["reset_token"].as_str().unwrap().to_owned();
    life.secrets.text("the reset token", &reset_token);
    let code = life.totp(&totp_secret);
    life.secrets.code("the reset's TOTP code", &code);
    life.ok(
        Method::POST,
        "/v1/password-reset/complete",
        None,
        json!({"reset_token": reset_token, "new_password": NEW_PASSWORD, "type": "totp", "code": code}),
    )
    .await;
    life.app.advance(Duration::seconds(30));
    life.first_step(NEW_PASSWORD).await;

    // the master keys (the file is where they belong; nowhere else)
    let key_file = std::fs::read_to_string(&life.app.config.secrets.master_key_file).unwrap();
    for line in key_file
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let encoded = line.split_whitespace().last().unwrap();
        life.secrets.text("a master key", encoded);
        if let Ok(raw) = base64_decode(encoded) {
            life.secrets.bytes("a master key's bytes", &raw);
        }
    }

    // the search: the database while the server runs and after it stops, the log, the bodies
    let mut hits = Vec::new();
    for (place, bytes) in database_contents(&life.app).await {
        hits.extend(life.secrets.found_in(&place, &bytes));
    }
    life.app.stop_server().await;
    for (place, bytes) in database_contents(&life.app).await {
        hits.extend(life.secrets.found_in(&format!("{place} (stopped)"), &bytes));
    }
    let logged = log.bytes();
    assert!(
        ["database migrated", "outbox: delivered", "TRACE"]
            .iter()
            .all(|line| String::from_utf8_lossy(&logged).contains(line)),
        "the log was captured at trace ({} bytes)",
        logged.len()
    );
    hits.extend(life.secrets.found_in("the log", &logged));
    assert!(life.clean_bodies.len() >= 12, "the bodies were kept");
    for (request, body) in &life.clean_bodies {
        hits.extend(
            life.secrets
                .found_in(&format!("the answer to {request}"), body.as_bytes()),
        );
    }
    hits.dedup();
    assert!(life.secrets.0.len() > 40, "the life met its secrets");
    // the search finds what is there
    let control = format!("x{PASSWORD}y {totp_secret} ({code})");
    assert_eq!(
        life.secrets.found_in("control", control.as_bytes()).len(),
        3
    );
    assert!(hits.is_empty(), "secrets found:\n{}", hits.join("\n"));
}

fn base64_decode(s: &str) -> Result<Vec<u8>, data_encoding::DecodeError> {
    data_encoding::BASE64.decode(s.as_bytes())
}
