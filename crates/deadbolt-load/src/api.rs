//! The server's API as the harness's untimed setup calls it: the load account, its sign-ins,
//! and a call that retries while the hash pool is full (a setup must not fail for the
//! overload answer the server is right to give).

use crate::tally::client;
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// The load account of the login, session and overload phases.
pub const EMAIL: &str = "load@example.com";
pub const PASSWORD: &str = "correct horse battery staple 42";
/// A setup request answered 503 (hash pool full) is retried this often, 20 ms apart.
const BUSY_RETRIES: u32 = 250;

/// The body of a login of the load account.
pub fn login_body() -> String {
    serde_json::json!({"email": EMAIL, "password": PASSWORD}).to_string()
}

/// A signed-in session: what a login without a second factor hands out.
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
}

/// A login of the load account that must succeed without a second factor.
pub async fn sign_in(client: &reqwest::Client, base: &str) -> Result<Session> {
    let answer = call(
        client
            .post(format!("{base}/v1/login"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(login_body()),
        200,
        "POST /v1/login",
    )
    .await?;
    Ok(Session {
        access_token: text_field(&answer, "access_token")
            .with_context(|| format!("the load account got no session: {answer}"))?,
        refresh_token: text_field(&answer, "refresh_token")?,
    })
}

/// Creates the load account; an existing one (a reused database) is fine.
pub async fn create_account(base: &str) -> Result<()> {
    let response = client(1)?
        .post(format!("{base}/v1/accounts"))
        .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .context("POST /v1/accounts")?;
    let status = response.status().as_u16();
    if status != 201 && status != 409 {
        let body = response.text().await.unwrap_or_default();
        bail!("POST /v1/accounts answered {status}: {body}");
    }
    Ok(())
}

pub async fn single_login(url: &str, body: &str) -> Result<(u16, Duration)> {
    let sent = Instant::now();
    let response = client(1)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .context("POST /v1/login")?;
    let status = response.status().as_u16();
    response.bytes().await.context("reading the login answer")?;
    Ok((status, sent.elapsed()))
}

/// One login that must succeed without a second factor, or the phase would measure errors.
pub async fn first_login(url: &str, body: &str) -> Result<()> {
    let response = client(1)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .context("POST /v1/login")?;
    let status = response.status().as_u16();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if status != 200 || answer.get("access_token").is_none() {
        bail!("the load account cannot log in: {status} {answer}");
    }
    Ok(())
}

/// Sends a request, retrying while the server answers 503 (hash pool full); anything but
/// `expected` is an error. Returns the JSON answer (null when empty).
pub async fn call(
    request: reqwest::RequestBuilder,
    expected: u16,
    what: &str,
) -> Result<serde_json::Value> {
    let mut busy = 0;
    loop {
        let attempt = request
            .try_clone()
            .with_context(|| format!("{what}: the request cannot be repeated"))?;
        let response = attempt.send().await.with_context(|| what.to_owned())?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        if status == 503 && busy < BUSY_RETRIES {
            busy += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        if status != expected {
            bail!("{what} answered {status} (expected {expected}): {text}");
        }
        if text.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        return serde_json::from_str(&text)
            .with_context(|| format!("{what}: the answer is not JSON: {text}"));
    }
}

pub fn text_field(answer: &serde_json::Value, name: &str) -> Result<String> {
    answer
        .get(name)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {name:?} in {answer}"))
}
