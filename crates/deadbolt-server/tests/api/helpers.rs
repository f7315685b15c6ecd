//! Starts the real server on a free port with a fresh database (SQLite file or a new PostgreSQL
//! database, per DEADBOLT_TEST_DATABASE) and a real SMTP server (aiosmtpd) receiving its mail.

use deadbolt_core::clock::{Clock, ManualClock};
use deadbolt_server::{Application, Config};
pub use deadbolt_test_support::codes::six_digit_numbers;
use deadbolt_test_support::database::fresh_database_url;
pub use deadbolt_test_support::database::{backend, Backend};
pub use deadbolt_test_support::totp::totp_at;
use deadbolt_usecases::system::{OsRandom, SystemClock};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "correct horse battery staple";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A message the SMTP server received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl Mail {
    /// The message's one 6-digit number.
    pub fn code(&self) -> String {
        let codes = six_digit_numbers(&self.text);
        assert_eq!(
            codes.len(),
            1,
            "expected exactly one 6-digit code in {:?}",
            self.text
        );
        codes[0].clone()
    }
}

/// The aiosmtpd sink as a child process.
pub struct SmtpSink {
    child: Child,
}

impl SmtpSink {
    /// Starts the sink on `port`, or with 0 on a port the sink binds itself (a port picked
    /// here and bound later could be taken meanwhile by a parallel test); returns the port.
    pub fn start(port: u16, fail_first: u32, tx: mpsc::UnboundedSender<Mail>) -> (Self, u16) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/smtp_sink.py"
        );
        let mut child = Command::new("python3")
            .args([
                script,
                "--port",
                &port.to_string(),
                "--fail-first",
                &fail_first.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink (needs python3 with aiosmtpd: pip install aiosmtpd)");
        let stdout = child.stdout.take().expect("sink stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(bound) = line.strip_prefix("READY") {
                    let bound = bound.trim().parse().unwrap_or(port);
                    let _ = ready_tx.send(bound);
                    continue;
                }
                let v: Value = serde_json::from_str(&line).expect("sink prints JSON");
                let mail = Mail {
                    to: v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned())
                        .collect(),
                    subject: v["subject"].as_str().unwrap_or_default().to_owned(),
                    text: v["text"].as_str().unwrap_or_default().to_owned(),
                    html: v["html"].as_str().map(str::to_owned),
                };
                if tx.send(mail).is_err() {
                    break;
                }
            }
        });
        let bound = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("SMTP sink did not start");
        (Self { child }, bound)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
pub struct Options {
    /// Drive time by hand (the outbox's retries then only move when the test moves time).
    pub manual_clock: bool,
    /// Start without a mail server listening (an SMTP outage).
    pub mail_down: bool,
    pub fail_first: u32,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub clock: Option<Arc<ManualClock>>,
    mail_rx: mpsc::UnboundedReceiver<Mail>,
    mail_tx: mpsc::UnboundedSender<Mail>,
    sink: Option<SmtpSink>,
    smtp_port: u16,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    _dir: Arc<tempfile::TempDir>,
}

/// Options with time driven by hand.
pub fn manual() -> Options {
    Options {
        manual_clock: true,
        ..Options::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default(), |_| {}).await
}

pub async fn spawn_app_with(options: Options, configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (mail_tx, mail_rx) = mpsc::unbounded_channel();
    // an outage starts with nothing listening on a port the sink takes later
    let (sink, smtp_port) = if options.mail_down {
        (None, free_port())
    } else {
        let (sink, port) = SmtpSink::start(0, options.fail_first, mail_tx.clone());
        (Some(sink), port)
    };
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.public_url = "http://deadbolt.test".into();
    config.database.url =
        fresh_database_url(&dir.path().join("deadbolt.db"), "deadbolt_test").await;
    config.database.pool_size = 8;
    config.secrets.master_key_file = dir.path().join("master.key");
    config.email.smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
    // cheap hashing keeps the suite fast; the rules around it are the same
    config.password.memory_kib = 256;
    config.password.iterations = 1;
    config.delivery.base_delay_seconds = 1;
    config.delivery.max_delay_seconds = 2;
    // the tests read the counters
    config.metrics.public = true;
    configure(&mut config);
    let clock = options.manual_clock.then(|| {
        Arc::new(ManualClock::new(
            time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        ))
    });
    let mut app = TestApp {
        address: String::new(),
        client: reqwest::Client::builder()
            .user_agent("deadbolt-tests/1.0")
            .build()
            .unwrap(),
        config,
        clock,
        mail_rx,
        mail_tx,
        sink,
        smtp_port,
        server: None,
        _dir: dir,
    };
    app.start_server().await;
    app
}

impl TestApp {
    async fn start_server(&mut self) {
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let app = Application::build_with(self.config.clone(), clock, Arc::new(OsRandom))
            .await
            .expect("build the application");
        self.address = format!("http://127.0.0.1:{}", app.port());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            app.run_until(async {
                let _ = stop_rx.await;
            })
            .await
            .expect("server stopped with an error");
        });
        self.server = Some((stop_tx, handle));
    }

    /// Stops the server (finishing in-flight work) and starts a new one on the same database.
    pub async fn restart(&mut self) {
        self.stop_server().await;
        self.start_server().await;
    }

    pub async fn stop_server(&mut self) {
        if let Some((stop, handle)) = self.server.take() {
            let _ = stop.send(());
            handle.await.unwrap();
        }
    }

    pub fn start_mail(&mut self) {
        self.sink = Some(SmtpSink::start(self.smtp_port, 0, self.mail_tx.clone()).0);
    }

    /// The next message, waiting up to `secs`.
    pub async fn next_mail_within(&mut self, secs: u64) -> Option<Mail> {
        tokio::time::timeout(Duration::from_secs(secs), self.mail_rx.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn next_mail(&mut self) -> Mail {
        self.next_mail_within(15)
            .await
            .expect("no mail arrived within 15 s")
    }

    /// The next message to `to`, passing over messages to others.
    pub async fn next_mail_to(&mut self, to: &str) -> Mail {
        loop {
            let mail = self.next_mail().await;
            if mail.to == [to] {
                return mail;
            }
        }
    }

    /// The next message titled `subject`, passing over others (notices a loaded machine
    /// delivers late).
    pub async fn next_mail_titled(&mut self, subject: &str) -> Mail {
        loop {
            let mail = self.next_mail().await;
            if mail.subject == subject {
                return mail;
            }
        }
    }

    pub fn advance(&self, by: time::Duration) {
        self.clock
            .as_ref()
            .expect("spawn with manual_clock")
            .advance(by);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(&self, email: &str) -> Value {
        let r = self
            .post(
                "/v1/accounts",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            r.status(),
            201,
            "sign-up failed: {}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/v1/login", json!({"email": email, "password": password}))
            .await
    }

    /// Signs up and logs in: the access token.
    pub async fn access_token(&self, email: &str) -> String {
        self.signed_in(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs up, proves the address (as the emailed code would) and logs in: the token
    /// response of an account that may add second factors and keys.
    pub async fn signed_in(&self, email: &str) -> Value {
        self.sign_up(email).await;
        self.mark_email_verified(email).await;
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Signs up and logs in without proving the address: the token response.
    pub async fn signed_in_unverified(&self, email: &str) -> Value {
        self.sign_up(email).await;
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Marks the account's email verified in the database, as entering the emailed code does,
    /// without taking that mail from the queue (tests read their mail in order).
    pub async fn mark_email_verified(&self, email: &str) {
        let store = deadbolt_store::Store::open(&self.config.database.url, 1).unwrap();
        let email = deadbolt_core::email::Email::parse(email).unwrap();
        let account = store.account_by_email(&email).await.unwrap().unwrap();
        #[allow(
            clippy::disallowed_methods,
            reason = "a test's own write, behind the service"
        )]
        store
            .commit(vec![store.set_email(account.id, &account.email)])
            .await
            .unwrap();
    }

    /// The value of a metric line, summed over lines that contain every `needle`.
    pub async fn metric(&self, name: &str, needles: &[&str]) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && needles.iter().all(|n| l.contains(n)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.server.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts a problem+json answer with this status and `error` code; returns the body.
pub async fn assert_problem(r: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "body: {body}");
    assert_eq!(body["status"], status);
    for key in ["type", "title", "detail"] {
        assert!(body[key].is_string(), "problem lacks {key}: {body}");
    }
    body
}

/// The claims of a JWT, verified against the server's published JWKS by an independent library.
pub async fn verified_claims(app: &TestApp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let key = app.signing_key_of(token).await;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.validate_exp = false;
    // a step-up token has an audience of its own, so that it never passes for an access token
    let audience = match header.typ.as_deref() {
        Some("step-up+jwt") => "http://deadbolt.test/step-up",
        _ => "http://deadbolt.test",
    };
    v.set_audience(&[audience]);
    v.set_issuer(&["http://deadbolt.test"]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims
}

/// An account with a confirmed TOTP method.
pub struct Enrolled {
    pub email: String,
    pub access: String,
    pub secret: String,
    pub method_id: String,
    pub recovery_codes: Vec<String>,
}

impl TestApp {
    pub fn now_unix(&self) -> i64 {
        self.clock
            .as_ref()
            .expect("spawn with manual_clock")
            .now()
            .unix_timestamp()
    }

    /// The current code for a secret, by the app's (manual) clock.
    pub fn code(&self, secret: &str) -> String {
        totp_at(secret, self.now_unix())
    }

    /// Signs up, enrolls and confirms TOTP, then moves the clock to the next time step (the
    /// confirmation spent the current one).
    pub async fn enrolled(&self, email: &str) -> Enrolled {
        let tokens = self.signed_in(email).await;
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let r = self
            .client
            .post(self.url("/v1/me/mfa/totp"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "enroll: {}", r.text().await.unwrap());
        let e: Value = r.json().await.unwrap();
        let secret = e["secret"].as_str().unwrap().to_owned();
        let method_id = e["method_id"].as_str().unwrap().to_owned();
        let r = self
            .client
            .post(self.url(&format!("/v1/me/mfa/{method_id}/confirm")))
            .bearer_auth(&access)
            .json(&json!({"code": self.code(&secret)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "confirm: {}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        let recovery_codes = body["recovery_codes"]
            .as_array()
            .map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        self.advance(time::Duration::seconds(30));
        Enrolled {
            email: email.to_owned(),
            access,
            secret,
            method_id,
            recovery_codes,
        }
    }

    /// A password login that must ask for the second factor: its mfa_token.
    pub async fn mfa_token(&self, email: &str) -> String {
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["mfa_required"], true, "{body}");
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    pub async fn verify_totp(&self, mfa_token: &str, code: &str) -> reqwest::Response {
        self.post(
            "/v1/login/mfa/verify",
            json!({"mfa_token": mfa_token, "type": "totp", "code": code}),
        )
        .await
    }

    /// An authenticated request with a JSON body.
    pub async fn send_auth(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Steps up `action` for the session of `access` with the current TOTP code.
    pub async fn step_up_totp(&self, access: &str, action: &str, secret: &str) -> Value {
        self.step_up_with(access, action, secret, None).await
    }

    /// Steps up with a given TOTP method (needed once an account has several).
    pub async fn step_up_with(
        &self,
        access: &str,
        action: &str,
        secret: &str,
        method_id: Option<&str>,
    ) -> Value {
        self.step_up_totp_on(access, action, None, secret, method_id)
            .await
    }

    /// Steps up `action` on one `target` (as the 401 that asked for it named) with TOTP.
    pub async fn step_up_totp_on(
        &self,
        access: &str,
        action: &str,
        target: Option<&str>,
        secret: &str,
        method_id: Option<&str>,
    ) -> Value {
        let r = self
            .send_auth(
                reqwest::Method::POST,
                "/v1/step-up",
                access,
                Some(json!({"action": action, "target": target})),
            )
            .await;
        assert_eq!(r.status(), 200);
        let begin: Value = r.json().await.unwrap();
        assert_eq!(begin["satisfied"], false, "{begin}");
        let r = self
            .send_auth(
                reqwest::Method::POST,
                "/v1/step-up/verify",
                access,
                Some(json!({"challenge_token": begin["challenge_token"], "type": "totp", "method_id": method_id, "code": self.code(secret)})),
            )
            .await;
        assert_eq!(
            r.status(),
            200,
            "step-up verify: {}",
            r.text().await.unwrap()
        );
        // each code passes once: later steps-up in the same test need the next time step
        self.advance(time::Duration::seconds(30));
        r.json().await.unwrap()
    }
}

impl TestApp {
    /// Steps up `action` for the session of `access` with the password (an account without
    /// MFA); nothing to do while a grant for it is open.
    pub async fn step_up_password(&self, access: &str, action: &str) {
        let begin: Value = self
            .send_auth(
                reqwest::Method::POST,
                "/v1/step-up",
                access,
                Some(json!({"action": action})),
            )
            .await
            .json()
            .await
            .unwrap();
        if begin["satisfied"] == true {
            return;
        }
        let r = self
            .send_auth(
                reqwest::Method::POST,
                "/v1/step-up/verify",
                access,
                Some(json!({"challenge_token": begin["challenge_token"], "type": "password", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status(), 200, "step-up: {}", r.text().await.unwrap());
    }

    /// Asks for a password reset of `email`, reads the code from its mail and trades it: the
    /// body with the `reset_token`.
    pub async fn reset_token(&mut self, email: &str) -> Value {
        let r = self
            .post("/v1/password-reset", json!({"email": email}))
            .await;
        assert_eq!(r.status(), 202);
        let code = loop {
            let mail = self.next_mail_to(email).await;
            if mail.subject == "Reset your password" {
                break mail.code();
            }
        };
        let r = self
            .post(
                "/v1/password-reset/verify",
                json!({"email": email, "code": code}),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// The public key that signed `token`, from the published JWKS.
    pub async fn signing_key_of(&self, token: &str) -> jsonwebtoken::DecodingKey {
        let jwks: Value = self
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let kid = jsonwebtoken::decode_header(token)
            .unwrap()
            .kid
            .expect("token has a kid");
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("kid in JWKS");
        jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap()
    }

    /// Makes an API key for the account of `access`: the answer, with the key.
    pub async fn api_key(&self, access: &str, name: &str) -> Value {
        let r = self
            .send_auth(
                reqwest::Method::POST,
                "/v1/me/api-keys",
                access,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// The kinds of the account's security events, newest first.
    pub async fn event_kinds(&self, access: &str) -> Vec<String> {
        let body: Value = self
            .get_auth("/v1/me/events?limit=100", access)
            .await
            .json()
            .await
            .unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Signs up, verifies the email with the mailed code, and signs in: the token response.
pub async fn verified_account(app: &mut TestApp, email: &str) -> Value {
    let tokens = app.signed_in(email).await;
    let code = loop {
        let mail = app.next_mail_to(email).await;
        if mail.subject == "Verify your email address" {
            break mail.code();
        }
    };
    let r = app
        .post(
            "/v1/accounts/verify",
            json!({"email": email, "channel": "email", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    tokens
}

impl TestApp {
    /// The use cases' context on this app's database, keys and manual clock, for what a test
    /// does as the operator at the machine would (a command) rather than over HTTP.
    pub async fn context(&self) -> deadbolt_usecases::Context {
        let clock: Arc<dyn Clock> = self.clock.clone().expect("spawn with manual_clock");
        deadbolt_usecases::Context::open(self.config.clone(), clock, Arc::new(OsRandom))
            .await
            .unwrap()
    }
}

/// An administrator, made as `deadbolt admin create --role admin` makes one, with TOTP enrolled,
/// signed in with both factors (an admin's own MFA is required): its access token and TOTP
/// secret. Needs the manual clock (the confirmation spends the current time step).
pub async fn admin_signed_in(app: &TestApp, email: &str) -> (String, String) {
    use deadbolt_usecases::accounts::{create_by_operator, OperatorAccount};
    let state = app.context().await;
    create_by_operator(
        &state,
        OperatorAccount {
            email: email.to_owned(),
            password: deadbolt_core::secret::Secret::new(PASSWORD),
            roles: vec!["admin".to_owned()],
        },
    )
    .await
    .unwrap();
    let r = app.login(email, PASSWORD).await;
    let first: Value = r.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap();
    let r = app
        .send_auth(reqwest::Method::POST, "/v1/me/mfa/totp", access, None)
        .await;
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap();
    let path = format!("/v1/me/mfa/{}/confirm", e["method_id"].as_str().unwrap());
    let r = app
        .send_auth(
            reqwest::Method::POST,
            &path,
            access,
            Some(json!({"code": app.code(secret)})),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.advance(time::Duration::seconds(30));
    let mfa_token = app.mfa_token(email).await;
    let r = app.verify_totp(&mfa_token, &app.code(secret)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        secret.to_owned(),
    )
}

/// An account made as `deadbolt admin create` makes one, with these roles: verified email, no
/// MFA yet.
pub async fn operator_account(app: &TestApp, email: &str, roles: &[&str]) {
    let clock: Arc<dyn Clock> = match app.clock.clone() {
        Some(manual) => manual,
        None => Arc::new(SystemClock),
    };
    let state = deadbolt_usecases::Context::open(app.config.clone(), clock, Arc::new(OsRandom))
        .await
        .unwrap();
    deadbolt_usecases::accounts::create_by_operator(
        &state,
        deadbolt_usecases::accounts::OperatorAccount {
            email: email.into(),
            password: deadbolt_core::secret::Secret::new(PASSWORD),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        },
    )
    .await
    .unwrap();
}

/// A token's header and claims, its signature checked with the published key its header names
/// (by jsonwebtoken, not the server's code), and its issuer and audience; not its expiry.
pub async fn verified_by_jwks(
    app: &TestApp,
    token: &str,
    audience: &str,
) -> (jsonwebtoken::Header, Value) {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.clone().expect("a kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is published");
    let (key, alg) = match jwk["kty"].as_str().unwrap() {
        "RSA" => (
            jsonwebtoken::DecodingKey::from_rsa_components(
                jwk["n"].as_str().unwrap(),
                jwk["e"].as_str().unwrap(),
            )
            .unwrap(),
            jsonwebtoken::Algorithm::RS256,
        ),
        _ => (
            jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap(),
            jsonwebtoken::Algorithm::EdDSA,
        ),
    };
    assert_eq!(header.alg, alg, "signed with the key its header names");
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[app.config.server.public_url.as_str()]);
    v.set_audience(&[audience]);
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims;
    (header, claims)
}
