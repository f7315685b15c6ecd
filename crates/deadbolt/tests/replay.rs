//! Replay: a TOTP time step is accepted once per method, through an atomic conditional update.
//! Twenty parallel verifications of one valid code succeed exactly once, with two real
//! `deadbolt serve` processes sharing one database (a SQLite file, or a fresh PostgreSQL database
//! when DEADBOLT_TEST_DATABASE=postgres).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test"
)]

mod common;
use common::{six_digit_code, wait_for_single_mail};
use deadbolt_test_support::database::fresh_database_url;
use deadbolt_test_support::totp::totp_at;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_deadbolt");
const PASSWORD: &str = "correct horse battery staple";
const EMAIL: &str = "replay@example.com";
const PERIOD: u64 = 30;
const PARALLEL: usize = 20;

/// Wall-clock time: TOTP codes are computed for the servers' own (system) clock.
#[allow(
    clippy::disallowed_methods,
    reason = "the servers under test run on the system clock"
)]
fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

/// Sleeps until `margin` after the start of the next time step; returns that step.
async fn next_step(margin: Duration) -> u64 {
    let step = unix_now().as_secs() / PERIOD + 1;
    let at = Duration::from_secs(step * PERIOD) + margin;
    tokio::time::sleep(at.saturating_sub(unix_now())).await;
    step
}

/// The code for a time step, from an independent implementation (totp-lite).
fn totp_for_step(secret_b32: &str, step: u64) -> String {
    totp_at(secret_b32, i64::try_from(step * PERIOD).unwrap())
}

/// A running `deadbolt serve`, killed on drop. Its log is kept and printed if the test fails.
struct Server {
    name: &'static str,
    url: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    async fn start(name: &'static str, dir: &Path, database_url: &str, master_key: &Path) -> Self {
        let mut cmd = Command::new(BIN);
        // plain log lines: they are printed if the test fails
        cmd.current_dir(dir)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        // the suite's own settings must not leak into the processes under test
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DEADBOLT_")) {
            cmd.env_remove(k);
        }
        cmd.envs([
            ("DEADBOLT_SERVER__BIND", "127.0.0.1:0"),
            ("DEADBOLT_SERVER__PUBLIC_URL", "http://deadbolt.test"),
            ("DEADBOLT_DATABASE__URL", database_url),
            // cheap hashing keeps the test fast; the rules around it are the same
            ("DEADBOLT_PASSWORD__MEMORY_KIB", "256"),
            ("DEADBOLT_PASSWORD__ITERATIONS", "1"),
            // the nineteen refused replays must not lock the account's second factor
            ("DEADBOLT_LOCKOUT__ACCOUNT_MAX_FAILURES", "1000"),
            // one step either side is accepted (the default, pinned: the last check relies on it)
            ("DEADBOLT_MFA__TOTP_SKEW_STEPS", "1"),
        ])
        .env("DEADBOLT_SECRETS__MASTER_KEY_FILE", master_key);
        let mut child = cmd
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start deadbolt serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lines = log.clone();
        // reads to the end, so the pipe never fills and blocks the server
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .unwrap()
                        .to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
                let mut lines = lines.lock().unwrap();
                if lines.len() == 400 {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
        });
        let mut server = Self {
            name,
            url: String::new(),
            child,
            log,
        };
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(url)) => server.url = url,
            _ => panic!("server {name} never said where it listens"),
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
            eprintln!("----- log of server {} ({}) -----", self.name, self.url);
            for line in log {
                eprintln!("{line}");
            }
        }
    }
}

/// An answer: status, content type and JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = client.post(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer(req.send().await.unwrap()).await
}

fn is_invalid_code(a: &Answer) -> bool {
    a.status == 401
        && a.content_type == "application/problem+json"
        && a.body["error"] == "invalid_code"
}

/// A password login that must ask for the second factor: its mfa_token.
async fn mfa_token(client: &reqwest::Client, server: &Server) -> String {
    let a = post(
        client,
        server.url("/v1/login"),
        None,
        Some(json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(a.status, 200, "login on {}: {a:?}", server.name);
    assert_eq!(
        a.body["mfa_required"], true,
        "login on {}: {a:?}",
        server.name
    );
    a.body["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify_totp(
    client: &reqwest::Client,
    server: &Server,
    mfa_token: &str,
    code: &str,
) -> Answer {
    post(
        client,
        server.url("/v1/login/mfa/verify"),
        None,
        Some(json!({"mfa_token": mfa_token, "type": "totp", "code": code})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_totp_step_is_accepted_once_across_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    // the database both processes share: a SQLite file in `dir`, or a new PostgreSQL database
    let database_url = fresh_database_url(&dir.path().join("deadbolt.db"), "deadbolt_replay").await;
    let master_key = dir.path().join("master.key");
    // the first creates the schema, the master key and the signing keys; the second shares them
    let a = Server::start("A", dir.path(), &database_url, &master_key).await;
    assert!(
        master_key.exists(),
        "server A did not create the master key"
    );
    let b = Server::start("B", dir.path(), &database_url, &master_key).await;
    let servers = [&a, &b];
    let client = reqwest::Client::builder()
        .user_agent("deadbolt-replay-test/1.0")
        .build()
        .unwrap();

    // sign up, log in, enrol TOTP and confirm it, all through A
    let r = post(
        &client,
        a.url("/v1/accounts"),
        None,
        Some(json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 201, "sign-up: {r:?}");
    // the address proven with the code mailed (written under the shared directory)
    let mail = wait_for_single_mail(&dir.path().join("deadbolt-data").join("mail"));
    let code = six_digit_code(&std::fs::read_to_string(mail).unwrap());
    let r = post(
        &client,
        a.url("/v1/accounts/verify"),
        None,
        Some(json!({"email": EMAIL, "channel": "email", "code": code})),
    )
    .await;
    assert_eq!(r.status, 200, "verify: {r:?}");
    let r = post(
        &client,
        a.url("/v1/login"),
        None,
        Some(json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 200, "first login: {r:?}");
    assert_eq!(r.body["mfa_required"], false, "first login: {r:?}");
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let r = post(&client, a.url("/v1/me/mfa/totp"), Some(&access), None).await;
    assert_eq!(r.status, 201, "enrol TOTP: {r:?}");
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let method_id = r.body["method_id"].as_str().unwrap().to_owned();
    // retry at a step boundary: the code must be for the step the server sees
    let mut confirmed = None;
    for _ in 0..2 {
        let step = unix_now().as_secs() / PERIOD;
        let r = post(
            &client,
            a.url(&format!("/v1/me/mfa/{method_id}/confirm")),
            Some(&access),
            Some(json!({"code": totp_for_step(&secret, step)})),
        )
        .await;
        if r.status == 200 {
            confirmed = Some(step);
            break;
        }
        assert_eq!(unix_now().as_secs() / PERIOD, step + 1, "confirm: {r:?}");
    }
    let confirmed = confirmed.expect("the confirmation was never accepted");

    // twenty logins, alternating between the two processes, each with its own mfa_token
    let mut tokens = Vec::with_capacity(PARALLEL);
    for i in 0..PARALLEL {
        tokens.push(mfa_token(&client, servers[i % 2]).await);
    }

    // the confirmation spent its step: the login code is for the next one
    let step = next_step(Duration::from_millis(500)).await;
    assert!(step > confirmed);
    let code = totp_for_step(&secret, step);

    // all twenty verifications of that one code, released together, half to each process
    let barrier = Arc::new(tokio::sync::Barrier::new(PARALLEL));
    let mut tasks = Vec::with_capacity(PARALLEL);
    for (i, token) in tokens.into_iter().enumerate() {
        let barrier = barrier.clone();
        let client = client.clone();
        let url = servers[i % 2].url("/v1/login/mfa/verify");
        let body = json!({"mfa_token": token, "type": "totp", "code": code});
        tasks.push(tokio::spawn(async move {
            let req = client.post(url).json(&body);
            barrier.wait().await;
            answer(req.send().await.unwrap()).await
        }));
    }
    let mut answers = Vec::with_capacity(PARALLEL);
    for (i, task) in tasks.into_iter().enumerate() {
        answers.push((servers[i % 2].name, task.await.unwrap()));
    }
    let summary = answers
        .iter()
        .map(|(name, a)| format!("{name}: {} {}", a.status, a.body))
        .collect::<Vec<_>>()
        .join("\n");
    let winners: Vec<_> = answers.iter().filter(|(_, a)| a.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one must succeed:\n{summary}");
    let refused = answers.iter().filter(|(_, a)| is_invalid_code(a)).count();
    assert_eq!(
        refused,
        PARALLEL - 1,
        "all the others must be 401 invalid_code:\n{summary}"
    );
    let (winner, won) = winners[0];
    assert_eq!(won.body["mfa_required"], false, "{summary}");
    let session = won.body["access_token"].as_str().unwrap().to_owned();
    // the session is good on either process
    for server in servers {
        let r = client
            .get(server.url("/v1/me"))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "the session won on {winner} is refused by {}",
            server.name
        );
    }

    // the spent code stays spent, on a fresh login, on either process
    for server in servers {
        let token = mfa_token(&client, server).await;
        let r = verify_totp(&client, server, &token, &code).await;
        assert!(
            is_invalid_code(&r),
            "a replay after the race on {}: {r:?}",
            server.name
        );
    }

    // a later step's code works: the next one, accepted within the one-step skew (so the test
    // need not wait another 30 s for it to begin)
    let token = mfa_token(&client, &b).await;
    let r = verify_totp(&client, &b, &token, &totp_for_step(&secret, step + 1)).await;
    assert_eq!(r.status, 200, "the next step's code on B: {r:?}");
    assert_eq!(r.body["mfa_required"], false, "{r:?}");
}
