//! The `deadbolt` command as an operator meets it: a real process, files on disk, HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::{six_digit_code, wait_for_single_mail};

const BIN: &str = env!("CARGO_BIN_EXE_deadbolt");
const PASSWORD: &str = "correct horse battery staple";

fn deadbolt(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_remove("RUST_LOG");
    // the suite's own settings must not leak into the commands under test
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DEADBOLT_")) {
        cmd.env_remove(k);
    }
    cmd
}

/// Starts `deadbolt serve` and waits for the line saying where it listens.
fn serve(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let url: String = line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve never said where it listens");
    (child, url)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_with_no_config_creates_its_data_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = deadbolt(dir.path());
    // no config file: only the port moves, so the test can run beside anything on 8080
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let _child = Killed(child);
    assert!(url.starts_with("http://127.0.0.1:"));
    let health = reqwest::blocking_get(&format!("{url}/healthz"));
    assert_eq!(health, r#"{"status":"ok"}"#);
    let data = dir.path().join("deadbolt-data");
    assert!(data.join("deadbolt.db").exists());
    let key = data.join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let jwks = reqwest::blocking_get(&format!("{url}/.well-known/jwks.json"));
    assert!(jwks.contains("Ed25519"));
}

#[test]
fn config_check_reports_every_problem_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nbind = \"here\"\n[database]\nurl = \"mysql://x\"\n[password]\niterations = \"two\"\n").unwrap();
    let out = deadbolt(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("DEADBOLT_SESSION__IDLE_SECONDS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for key in [
        "server.bind:",
        "database.url:",
        "password.iterations:",
        "session.idle_seconds:",
    ] {
        assert!(stdout.contains(key), "{key} missing from:\n{stdout}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nbind = \"127.0.0.1:9999\"\n").unwrap();
    let out = deadbolt(dir.path())
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    // valid, but mail would only be written to files: said, not refused
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("warning: email.smtp_url: not set: mail is written to files"),
        "{stdout}"
    );
    std::fs::write(
        &good,
        "[email]\nsmtp_url = \"smtp://mail.example.com:25\"\n",
    )
    .unwrap();
    let out = deadbolt(dir.path())
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8(out.stdout).unwrap().contains("warning"));
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = deadbolt(dir.path()).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let migrations = deadbolt_store::MIGRATIONS.len();
    assert!(run().starts_with(&format!("applied {migrations} migration")));
    assert!(run().starts_with("applied 0 migration"));
}

#[test]
fn admin_create_makes_an_account_that_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut create = deadbolt(dir.path())
        .args([
            "admin",
            "create",
            "--email",
            "Root@Example.com",
            "--password-stdin",
            "--role",
            "admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("root@example.com"));

    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let _child = Killed(child);
    let login = reqwest::blocking_post(
        &format!("{url}/v1/login"),
        &format!(r#"{{"email":"root@example.com","password":"{PASSWORD}"}}"#),
        None,
    );
    let token = login
        .split("\"access_token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let me = reqwest::blocking_post(&format!("{url}/v1/me"), "", Some(&token));
    assert!(me.contains(r#""roles":["admin"]"#), "{me}");
    assert!(me.contains(r#""email_verified":true"#), "{me}");

    // a weak password is refused with the same rule as sign-up
    let mut weak = deadbolt(dir.path())
        .args([
            "admin",
            "create",
            "--email",
            "weak@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(weak.stdin.take().unwrap(), "password").unwrap();
    let out = weak.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too weak"));
}

/// A tiny blocking HTTP client over the async one, so these tests stay plain `#[test]`s.
mod reqwest {
    pub fn blocking_get(url: &str) -> String {
        run(::reqwest::Client::new().get(url))
    }

    /// POST with a JSON body, or GET when the body is empty and a token is given.
    pub fn blocking_post(url: &str, body: &str, token: Option<&str>) -> String {
        let client = ::reqwest::Client::new();
        let req = match (body.is_empty(), token) {
            (true, Some(t)) => client.get(url).bearer_auth(t),
            _ => client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        };
        run(req)
    }

    fn run(req: ::reqwest::RequestBuilder) -> String {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { req.send().await.unwrap().text().await.unwrap() })
    }
}

#[test]
fn keys_rotate_reseals_and_prune_drops_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    // a first start makes the key file and the sealed service keys
    let out = deadbolt(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success());
    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let jwks_before = reqwest::blocking_get(&format!("{url}/.well-known/jwks.json"));
    let key_file = dir.path().join("deadbolt-data/master.key");
    let before = std::fs::read_to_string(&key_file).unwrap();

    let out = deadbolt(dir.path())
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    // the two signing keys (Ed25519, RSA) and the hashing key
    assert!(said.contains("re-sealed 3 service key(s)"), "{said}");
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(
        after.lines().count(),
        2,
        "the new key first, the old one kept"
    );
    assert_eq!(after.lines().nth(1), before.lines().next());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // the running server still answers, with the same signing key
    assert_eq!(
        reqwest::blocking_get(&format!("{url}/.well-known/jwks.json")),
        jwks_before
    );
    drop(Killed(child));

    let out = deadbolt(dir.path())
        .args(["keys", "rotate", "--prune"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("removed 1 unused master key"));
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().lines().count(),
        1
    );
    // a restart opens everything with the new key alone
    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let _child = Killed(child);
    assert_eq!(
        reqwest::blocking_get(&format!("{url}/.well-known/jwks.json")),
        jwks_before
    );
}

/// The `kid`s a running server publishes, once they are `expected` (instances follow a rotation
/// within a second or so).
fn wait_for_kids(url: &str, expected: &[&str]) -> Vec<String> {
    let mut kids = Vec::new();
    for _ in 0..100 {
        let jwks: serde_json::Value = serde_json::from_str(&reqwest::blocking_get(&format!(
            "{url}/.well-known/jwks.json"
        )))
        .unwrap();
        kids = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        if kids == expected {
            return kids;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the JWKS lists {kids:?}, not {expected:?}");
}

fn kid_from(said: &str, after: &str) -> String {
    said.split(after)
        .nth(1)
        .and_then(|rest| rest.split([':', ' ']).next())
        .unwrap_or_else(|| panic!("no kid after {after:?} in {said:?}"))
        .to_owned()
}

#[test]
fn keys_rotate_signing_publishes_a_new_kid_to_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let _child = Killed(child);
    let jwks: serde_json::Value = serde_json::from_str(&reqwest::blocking_get(&format!(
        "{url}/.well-known/jwks.json"
    )))
    .unwrap();
    // the Ed25519 key, then the RSA one
    let first = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let first_rsa = jwks["keys"][1]["kid"].as_str().unwrap().to_owned();

    let out = deadbolt(dir.path())
        .args(["keys", "rotate", "--signing"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    let second = kid_from(&said, "new signing key ");
    let second_rsa = kid_from(&said, "new RS256 signing key ");
    for old in [&first, &first_rsa] {
        assert!(
            said.contains(&format!("the old key {old} verifies until ")),
            "{said}"
        );
    }
    // the running server signs with the new keys and publishes old and new, the live ones first
    wait_for_kids(&url, &[&second, &second_rsa, &first, &first_rsa]);

    // a leaked key goes at once
    let out = deadbolt(dir.path())
        .args(["keys", "rotate", "--signing", "--now"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    let third = kid_from(&said, "new signing key ");
    let third_rsa = kid_from(&said, "new RS256 signing key ");
    assert!(said.contains("no longer verifies"), "{said}");
    wait_for_kids(&url, &[&third, &third_rsa]);
}

/// The refresh token in a sign-up's or refresh's answer.
fn refresh_token_in(answer: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(answer).unwrap_or_else(|_| panic!("not JSON: {answer}"));
    v["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token in {answer}"))
        .to_owned()
}

#[test]
fn keys_rotate_hashing_keeps_sessions_and_at_once_ends_them() {
    let dir = tempfile::tempdir().unwrap();
    for wrong in [
        &["keys", "rotate", "--now"][..],
        &["keys", "rotate", "--signing", "--hashing"],
        &["keys", "rotate", "--hashing", "--prune"],
    ] {
        let out = deadbolt(dir.path()).args(wrong).output().unwrap();
        assert!(!out.status.success(), "{wrong:?} is refused");
    }
    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let _child = Killed(child);
    let account =
        serde_json::json!({"email": "hash@example.com", "password": PASSWORD}).to_string();
    reqwest::blocking_post(&format!("{url}/v1/accounts"), &account, None);
    let login = || reqwest::blocking_post(&format!("{url}/v1/login"), &account, None);
    let mut token = refresh_token_in(&login());
    let refresh = |token: &str| {
        reqwest::blocking_post(
            &format!("{url}/v1/token/refresh"),
            &serde_json::json!({"refresh_token": token}).to_string(),
            None,
        )
    };

    let out = deadbolt(dir.path())
        .args(["keys", "rotate", "--hashing"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.starts_with("new hashing key "), "{said}");
    assert!(
        said.contains("finds refresh tokens and trusted devices until "),
        "{said}"
    );
    // the session carries on across the rotation
    token = refresh_token_in(&refresh(&token));
    token = refresh_token_in(&refresh(&token));

    // a leaked key: every older key goes, and the sessions hashed under them with it
    let out = deadbolt(dir.path())
        .args(["keys", "rotate", "--hashing", "--now"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("no longer works"), "{said}");
    // the running server follows within a second or so
    let mut answer = String::new();
    for _ in 0..100 {
        answer = refresh(&token);
        if answer.contains("invalid_token") {
            break;
        }
        token = refresh_token_in(&answer);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answer.contains("invalid_token"), "{answer}");
    refresh_token_in(&refresh(&refresh_token_in(&login())));
}

/// The README's first five minutes, as a newcomer meets them: no config, an empty directory, no
/// mail server. The code of a sign-up arrives as a file under `deadbolt-data/mail/`, and
/// everything under `deadbolt-data` is private to its owner.
#[test]
fn first_run_signs_up_with_the_code_from_the_mail_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, url) = serve(cmd);
    let _child = Killed(child);
    let email = "newcomer@example.com";
    let signup = reqwest::blocking_post(
        &format!("{url}/v1/accounts"),
        &serde_json::json!({"email": email, "password": PASSWORD}).to_string(),
        None,
    );
    assert!(signup.contains(r#""email_verified":false"#), "{signup}");

    let mail = dir.path().join("deadbolt-data").join("mail");
    let message = wait_for_single_mail(&mail);
    let name = message.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(".eml"), "{name}");
    let text = std::fs::read_to_string(&message).unwrap();
    assert!(text.contains(&format!("To: {email}\r\n")), "{text}");
    let code = six_digit_code(&text);

    let verified = reqwest::blocking_post(
        &format!("{url}/v1/accounts/verify"),
        &serde_json::json!({"email": email, "channel": "email", "code": code}).to_string(),
        None,
    );
    assert!(verified.contains(r#""email_verified":true"#), "{verified}");
    let login = reqwest::blocking_post(
        &format!("{url}/v1/login"),
        &serde_json::json!({"email": email, "password": PASSWORD}).to_string(),
        None,
    );
    assert!(login.contains(r#""access_token""#), "{login}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let data = dir.path().join("deadbolt-data");
        let mut seen = Vec::new();
        let mut pending = vec![data];
        while let Some(path) = pending.pop() {
            let meta = std::fs::metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{}", path.display());
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "{}", path.display());
            }
            seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        for expected in [
            "deadbolt.db",
            "deadbolt.db-wal",
            "deadbolt.db-shm",
            "master.key",
            name.as_str(),
        ] {
            assert!(seen.iter().any(|s| s == expected), "{expected}: {seen:?}");
        }
    }
}

/// A data directory that an older version left open to others is tightened at start, and so
/// is its database.
#[cfg(unix)]
#[test]
fn serve_tightens_a_data_directory_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = deadbolt(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success());
    let data = dir.path().join("deadbolt-data");
    let db = data.join("deadbolt.db");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = deadbolt(dir.path());
    cmd.env("DEADBOLT_SERVER__BIND", "127.0.0.1:0");
    let (child, _url) = serve(cmd);
    let _child = Killed(child);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn clients_create_prints_the_secret_once_and_list_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = deadbolt(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = run(&[
        "clients",
        "create",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--redirect-uri",
        "http://localhost:3000/cb",
    ]);
    let made: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    let keys: Vec<&String> = made.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["client_id", "client_secret"], "{printed}");
    let id = made["client_id"].as_str().unwrap().to_owned();
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("dbc_") && secret.starts_with("dbcs_"),
        "{printed}"
    );

    let printed = run(&[
        "clients",
        "create",
        "--name",
        "Phone",
        "--redirect-uri",
        "com.example.app:/cb",
        "--public",
        "--third-party",
        "--grant",
        "authorization_code",
        "--grant",
        "device_code",
    ]);
    let phone: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    let keys: Vec<&String> = phone.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["client_id"],
        "a public client has no secret: {printed}"
    );

    let listed = run(&["clients", "list"]);
    assert!(
        !listed.contains(&secret) && !listed.contains("secret"),
        "{listed}"
    );
    let clients: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(clients.len(), 2, "{listed}");
    assert_eq!(clients[0]["client_id"], id.as_str());
    assert_eq!(clients[0]["name"], "Shop");
    assert_eq!(
        clients[0]["redirect_uris"],
        serde_json::json!(["https://shop.example/cb", "http://localhost:3000/cb"])
    );
    assert_eq!(clients[1]["public"], true);
    assert_eq!(clients[1]["first_party"], false);
    assert_eq!(
        clients[1]["grants"],
        serde_json::json!(["authorization_code", "device_code"])
    );

    let rotated: serde_json::Value =
        serde_json::from_str(run(&["clients", "rotate-secret", &id]).trim()).unwrap();
    assert_eq!(rotated["client_id"], id.as_str());
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert!(new_secret.starts_with("dbcs_") && new_secret != secret);

    run(&["clients", "delete", &id]);
    assert!(!run(&["clients", "list"]).contains(&id));

    // refused with the field named, and nothing made
    let out = deadbolt(dir.path())
        .args([
            "clients",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://shop.example/cb",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("redirect_uris[0]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = deadbolt(dir.path())
        .args(["clients", "delete", &id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(run(&["clients", "list"]).lines().count(), 1);
}

#[test]
fn clients_register_and_replace_the_keys_they_sign_requests_with() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| deadbolt(dir.path()).args(args).output().unwrap();
    let stdout = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let key = |x: &str| serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": x}]});
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        key("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").to_string(),
    )
    .unwrap();
    let jwks_arg = jwks.to_str().unwrap();
    let out = run(&[
        "clients",
        "create",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--jwks",
        jwks_arg,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let made: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let id = made["client_id"].as_str().unwrap().to_owned();
    let listed = stdout(&run(&["clients", "list"]));
    assert!(listed.contains("\"signs_requests\":true"), "{listed}");

    // a private key is refused, and nothing changes
    let private = dir.path().join("private.json");
    let mut with_d = key("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    with_d["keys"][0]["d"] = serde_json::json!("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
    std::fs::write(&private, with_d.to_string()).unwrap();
    let out = run(&[
        "clients",
        "set-keys",
        &id,
        "--jwks",
        private.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("public keys only"),
        "{}",
        stderr(&out)
    );
    // a public client cannot sign requests
    let out = run(&[
        "clients",
        "create",
        "--name",
        "App",
        "--redirect-uri",
        "com.example.app:/cb",
        "--public",
        "--jwks",
        jwks_arg,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("jwks"), "{}", stderr(&out));

    let out = run(&["clients", "set-keys", &id, "--none"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"signs_requests\":false"),
        "{}",
        stdout(&out)
    );
    let out = run(&["clients", "set-keys", &id, "--jwks", jwks_arg]);
    assert!(
        stdout(&out).contains("\"signs_requests\":true"),
        "{}",
        stdout(&out)
    );
}
