//! Limits that hold under concurrency and cost: password guesses reserved before they are
//! judged, an account-wide budget for emailed and texted codes, sign-ups and passkey starts
//! per client address, connections that cannot be held open, and password-reset and resend
//! answers that do the same work for unknown emails.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Requests fired at once; each answers with its status and error code.
async fn all_at_once(
    app: &TestApp,
    requests: Vec<(Method, String, Option<String>, Value)>,
) -> BTreeMap<(u16, String), usize> {
    let mut set = tokio::task::JoinSet::new();
    // every request waits at the gate until all are ready, so they reach the server together
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    for (method, path, token, body) in requests {
        let client = app.client.clone();
        let url = app.url(&path);
        let gate = gate.clone();
        set.spawn(async move {
            let mut req = client.request(method, url).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            gate.wait().await;
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        });
    }
    let mut answers = BTreeMap::new();
    while let Some(answer) = set.join_next().await {
        *answers.entry(answer.unwrap()).or_insert(0) += 1;
    }
    answers
}

/// How many answers were judgements (`status`, `error`); every other answer must be a refusal
/// to judge: 429 (any code in `refusals`) or 503 (the hash pool was full).
fn judged(
    answers: &BTreeMap<(u16, String), usize>,
    judgement: (u16, &str),
    refusals: &[&str],
) -> usize {
    let mut judged = 0;
    for ((status, error), n) in answers {
        if (*status, error.as_str()) == judgement {
            judged += n;
        } else {
            assert!(
                (*status == 429 && refusals.contains(&error.as_str())) || *status == 503,
                "unexpected answers: {answers:?}"
            );
        }
    }
    judged
}

/// A pool with room for every guess at once, so that refusals come from the limit alone, and
/// a hash slow enough (a few milliseconds) that guesses overlap as they do in production.
fn roomy_hash_pool(c: &mut deadbolt_server::Config) {
    c.password.hash_threads = 2;
    c.password.hash_queue = 64;
    c.password.memory_kib = 4096;
    c.password.iterations = 2;
}

#[tokio::test]
async fn parallel_wrong_passwords_judge_at_most_the_account_limit() {
    let app = spawn_app_with(Options::default(), roomy_hash_pool).await;
    app.sign_up("parallel@example.com").await;
    for email in ["parallel@example.com", "nobody-here@example.com"] {
        let guesses = (0..40)
            .map(|i| {
                let body = json!({"email": email, "password": format!("wrong guess number {i}")});
                (Method::POST, "/v1/login".to_owned(), None, body)
            })
            .collect();
        let answers = all_at_once(&app, guesses).await;
        let n = judged(
            &answers,
            (401, "invalid_credentials"),
            &["too_many_attempts"],
        );
        eprintln!("{email}: {n} of 40 parallel wrong passwords judged: {answers:?}");
        assert!(n <= 10, "{n} judged, the limit is 10: {answers:?}");
        assert!(n >= 1, "{answers:?}");
    }
    let r = app.login("parallel@example.com", PASSWORD).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn parallel_wrong_passwords_judge_at_most_the_address_limit() {
    let app = spawn_app_with(Options::default(), |c| {
        roomy_hash_pool(c);
        c.limits.login_failures_per_ip = 12;
    })
    .await;
    app.sign_up("sprayed@example.com").await;
    // one guess per email, so that only the per-address limit can close
    let guesses = (0..40)
        .map(|i| {
            let body =
                json!({"email": format!("spray{i}@example.com"), "password": "a common guess"});
            (Method::POST, "/v1/login".to_owned(), None, body)
        })
        .collect();
    let answers = all_at_once(&app, guesses).await;
    let n = judged(
        &answers,
        (401, "invalid_credentials"),
        &["too_many_attempts"],
    );
    eprintln!("{n} of 40 parallel guesses from one address judged: {answers:?}");
    assert!(n <= 12, "{n} judged, the limit is 12: {answers:?}");
    assert_problem(
        app.login("sprayed@example.com", PASSWORD).await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn parallel_wrong_step_up_passwords_judge_at_most_the_limit() {
    let app = spawn_app_with(Options::default(), roomy_hash_pool).await;
    let tokens = app.signed_in("stepper@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let challenge = || async {
        let r = app
            .send_auth(
                Method::POST,
                "/v1/step-up",
                &access,
                Some(json!({"action": "account.delete"})),
            )
            .await;
        assert_eq!(r.status(), 200);
        let begin: Value = r.json().await.unwrap();
        begin["challenge_token"].as_str().unwrap().to_owned()
    };
    // a challenge each, so that only the account's limit (not a token's) can close
    let mut guesses = Vec::new();
    for i in 0..40 {
        let body = json!({"challenge_token": challenge().await, "type": "password", "password": format!("wrong guess {i}")});
        guesses.push((
            Method::POST,
            "/v1/step-up/verify".to_owned(),
            Some(access.clone()),
            body,
        ));
    }
    let answers = all_at_once(&app, guesses).await;
    let n = judged(&answers, (401, "invalid_code"), &["mfa_locked"]);
    eprintln!("{n} of 40 parallel wrong step-up passwords judged: {answers:?}");
    assert!(n <= 10, "{n} judged, the limit is 10: {answers:?}");
    let right =
        json!({"challenge_token": challenge().await, "type": "password", "password": PASSWORD});
    let r = app
        .send_auth(Method::POST, "/v1/step-up/verify", &access, Some(right))
        .await;
    assert_problem(r, 429, "mfa_locked").await;
}

#[tokio::test]
async fn parallel_wrong_current_passwords_judge_at_most_the_limit() {
    let app = spawn_app_with(Options::default(), roomy_hash_pool).await;
    let tokens = app.signed_in("changer@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let guesses = (0..40)
        .map(|i| {
            let body = json!({"current_password": format!("wrong guess {i}"), "new_password": "a brand new passphrase 2026"});
            (
                Method::POST,
                "/v1/me/password".to_owned(),
                Some(access.clone()),
                body,
            )
        })
        .collect();
    let answers = all_at_once(&app, guesses).await;
    let n = judged(&answers, (401, "invalid_credentials"), &["mfa_locked"]);
    eprintln!("{n} of 40 parallel wrong current passwords judged: {answers:?}");
    assert!(n <= 10, "{n} judged, the limit is 10: {answers:?}");
    let right =
        json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 2026"});
    let r = app
        .send_auth(Method::POST, "/v1/me/password", &access, Some(right))
        .await;
    assert_problem(r, 429, "mfa_locked").await;
}
