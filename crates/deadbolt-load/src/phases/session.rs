//! What a signed-in client does most: authenticated reads (`GET /v1/me`) and token refreshes,
//! each as a ratio to the same run's `/healthz` rate on the same server with the same number
//! of workers. The sessions are signed in beforehand (untimed), one per worker.

use crate::api::{sign_in, Session};
use crate::ceilings::Healthz;
use crate::cpu::CpuMeter;
use crate::drive::{closed_loop_with, in_parallel};
use crate::report::{ms, noise_text, verdict};
use crate::tally::{Answer, Tally};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// Target for authenticated reads/s over the same run's /healthz rate.
const ME_TARGET: f64 = 0.30;
/// Sign-ins running at once while the sessions are made (each is one Argon2 verification).
const SIGN_IN_TASKS: usize = 4;

/// A phase's figures, for the summary and the noise warning.
pub struct SessionFigures {
    pub noise: Option<f64>,
    pub summary: Vec<String>,
}

/// One session per worker, signed in before anything is timed.
pub async fn sessions(base: &str, n: usize) -> Result<Vec<Session>> {
    println!("[session] signing in {n} sessions (untimed) ...");
    let base = base.to_owned();
    in_parallel(n, SIGN_IN_TASKS, move |client, _| {
        let base = base.clone();
        async move { sign_in(&client, &base).await }
    })
    .await
    .context("signing in the sessions")
}

/// `GET /v1/me` with each session's access token, closed loop: what every authenticated call
/// pays (the token's signature, the session's revocation check, the account's row) and little
/// else.
pub async fn me_phase(
    base: &str,
    sessions: &[Session],
    seconds: u64,
    healthz: &Healthz,
    server_pid: Option<u32>,
) -> Result<SessionFigures> {
    let workers = sessions.len();
    println!("[me] GET /v1/me, {workers} workers, {seconds} s ...");
    let url = Arc::new(format!("{base}/v1/me"));
    let tokens: Vec<Arc<str>> = sessions
        .iter()
        .map(|s| Arc::from(s.access_token.as_str()))
        .collect();
    let window = Duration::from_secs(seconds);
    let cpu = CpuMeter::start(server_pid);
    let tally = closed_loop_with(tokens, window, move |client, token| {
        let request = client.get(url.as_str()).bearer_auth(&token);
        async move {
            let answer = crate::tally::send(request).await;
            (token, answer)
        }
    })
    .await?;
    let noise = cpu.others_share();
    let rate = tally.count(200) as f64 / window.as_secs_f64();
    let ratio = rate / healthz.rate;
    let judged = format!("target >= {ME_TARGET:.2}: {}", verdict(ratio >= ME_TARGET));
    println!(
        "[me] {rate:.0} req/s, p50 {}, p99 {}, other: {}; {}",
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
        tally.others(&[200]),
        noise_text(noise)
    );
    println!("[me] me/healthz = {ratio:.3} ({judged})");
    Ok(SessionFigures {
        noise,
        summary: vec![
            line("GET /v1/me", rate, &tally, workers, seconds),
            format!("me/healthz = {ratio:.3} ({judged})"),
        ],
    })
}

/// `POST /v1/token/refresh`, closed loop, each worker chaining its own session's token family:
/// every answer's refresh token is the next request's (refresh tokens rotate, and a used one
/// would revoke the session). A refresh signs a new access token and rotates the refresh
/// token in the store, so it is measured against `/healthz` with no target of its own.
pub async fn refresh_phase(
    base: &str,
    sessions: &[Session],
    seconds: u64,
    healthz: &Healthz,
    server_pid: Option<u32>,
) -> Result<SessionFigures> {
    let workers = sessions.len();
    println!("[refresh] POST /v1/token/refresh, {workers} token families, {seconds} s ...");
    let url = Arc::new(format!("{base}/v1/token/refresh"));
    let families: Vec<String> = sessions.iter().map(|s| s.refresh_token.clone()).collect();
    let window = Duration::from_secs(seconds);
    let cpu = CpuMeter::start(server_pid);
    let tally = closed_loop_with(families, window, move |client, token| {
        let request = client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "refresh_token": token }).to_string());
        async move { rotate(request, token).await }
    })
    .await?;
    let noise = cpu.others_share();
    let rate = tally.count(200) as f64 / window.as_secs_f64();
    let ratio = rate / healthz.rate;
    println!(
        "[refresh] {rate:.0} refreshes/s, p50 {}, p99 {}, other: {}; {}",
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
        tally.others(&[200]),
        noise_text(noise)
    );
    println!("[refresh] refresh/healthz = {ratio:.3}");
    Ok(SessionFigures {
        noise,
        summary: vec![
            line("POST /v1/token/refresh", rate, &tally, workers, seconds),
            format!("refresh/healthz = {ratio:.3} (no target: measured)"),
        ],
    })
}

/// Sends one refresh; the token to present next is the answer's, or the same one when the
/// answer carried none (the failure is counted, and the family then fails in the open).
async fn rotate(
    request: reqwest::RequestBuilder,
    token: String,
) -> (String, Result<Answer, reqwest::Error>) {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return (token, Err(e)),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return (token, Err(e)),
    };
    let next = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("refresh_token")?.as_str().map(str::to_owned))
        .unwrap_or(token);
    (
        next,
        Ok(Answer {
            status,
            retry_after,
        }),
    )
}

fn line(what: &str, rate: f64, tally: &Tally, workers: usize, seconds: u64) -> String {
    format!(
        "{what:<16} {rate:.0} req/s, p50 {}, p99 {} ({workers} workers, {seconds} s; other: {})",
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
        tally.others(&[200]),
    )
}
