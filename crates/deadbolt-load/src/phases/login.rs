//! Password logins against the Argon2 bound, and a burst of them at once: past the hash pool's
//! bound the server must answer 503 in milliseconds instead of queueing.

use crate::api::{create_account, first_login, login_body, single_login};
use crate::ceilings::{bound_phase, SERVER_DEFAULT_COSTS};
use crate::cpu::CpuMeter;
use crate::drive::{closed_loop, Request};
use crate::report::{ms, noise_text, verdict};
use crate::tally::{client, send, Tally};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Target for logins/s over the Argon2 bound.
const LOGIN_TARGET: f64 = 0.90;
/// "Overload answered with 503 in milliseconds": the p99 of the refusals must stay below this.
pub const REFUSAL_TARGET: Duration = Duration::from_millis(100);

pub struct Logins {
    pub noise: Option<f64>,
    /// The Argon2 bound: the higher of the two measurements around the logins.
    pub bound: f64,
    pub bound_noise: [Option<f64>; 2],
    pub summary: Vec<String>,
}

/// Password logins, as many at once as keep every hash thread busy, between two measurements
/// of the Argon2 bound; the higher one counts, so noise cannot flatter the ratio.
pub async fn login_phase(
    base: &str,
    cores: usize,
    workers: usize,
    seconds: u64,
    bound_seconds: u64,
    server_pid: Option<u32>,
) -> Result<Logins> {
    let window = Duration::from_secs(seconds);
    create_account(base).await?;
    let login_url = format!("{base}/v1/login");
    first_login(&login_url, &login_body()).await?;
    let before = bound_phase(cores, bound_seconds, server_pid, SERVER_DEFAULT_COSTS).await?;
    println!("[login] POST /v1/login, {workers} workers, {seconds} s ...");
    let request: Request = {
        let (url, body) = (login_url.clone(), login_body());
        Arc::new(move |c: &reqwest::Client| {
            c.post(url.as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
    };
    let cpu = CpuMeter::start(server_pid);
    let tally = closed_loop(workers, window, request).await?;
    let noise = cpu.others_share();
    let rate = tally.count(200) as f64 / window.as_secs_f64();
    println!(
        "[login] {rate:.1} logins/s, p50 {}, p99 {}, other: {}; {}",
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
        tally.others(&[200]),
        noise_text(noise)
    );
    let after = bound_phase(cores, bound_seconds, server_pid, SERVER_DEFAULT_COSTS).await?;
    let bound = before.rate.max(after.rate);
    let per_verification = Duration::from_secs_f64(cores as f64 / bound);
    let ratio = rate / bound;
    println!(
        "[login] login/argon2_bound = {ratio:.2} (target >= {LOGIN_TARGET:.2}: {}; bound {bound:.1}/s, \
         the higher of {:.1} before and {:.1} after)",
        verdict(ratio >= LOGIN_TARGET),
        before.rate,
        after.rate
    );
    let summary = vec![
        format!(
            "argon2id bound   {bound:.1} verifications/s ({cores} threads x {bound_seconds} s, best of 2; {} each)",
            ms(Some(per_verification))
        ),
        format!(
            "POST /v1/login   {rate:.1} logins/s, p50 {}, p99 {} ({workers} workers, {seconds} s; other: {})",
            ms(tally.percentile(200, 0.50)),
            ms(tally.percentile(200, 0.99)),
            tally.others(&[200]),
        ),
        format!(
            "login/argon2_bound = {ratio:.2} (target >= {LOGIN_TARGET:.2}: {})",
            verdict(ratio >= LOGIN_TARGET)
        ),
    ];
    Ok(Logins {
        noise,
        bound,
        bound_noise: [before.noise, after.noise],
        summary,
    })
}

/// `n` logins at once. Every request has its own connection, opened beforehand, and all are
/// released together; queued, the last of them would wait about n / bound seconds. Returns
/// the summary line.
pub async fn burst_phase(base: &str, n: usize, bound: f64) -> Result<String> {
    println!("[burst] {n} logins at once ...");
    let login_url = format!("{base}/v1/login");
    let burst = burst(n, base, &login_url, &login_body()).await?;
    let refused = burst.count(503);
    let refused_p99 = burst.percentile(503, 0.99);
    let queued_wait = Duration::from_secs_f64(n as f64 / bound);
    let met = refused > 0
        && burst.with_retry_after(503) == refused
        && burst.others(&[200, 503]) == "none"
        && refused_p99.is_some_and(|p| p <= REFUSAL_TARGET);
    println!(
        "[burst] {} x 200 (p50 {}, p99 {}), {refused} x 503 (p50 {}, p99 {}, max {}; \
         Retry-After on {}), other: {}; queued, the last would wait ~{}",
        burst.count(200),
        ms(burst.percentile(200, 0.50)),
        ms(burst.percentile(200, 0.99)),
        ms(burst.percentile(503, 0.50)),
        ms(refused_p99),
        ms(burst.percentile(503, 1.0)),
        burst.with_retry_after(503),
        burst.others(&[200, 503]),
        ms(Some(queued_wait))
    );
    // Afterwards the server must serve normally again.
    let (status, took) = single_login(&login_url, &login_body()).await?;
    println!("[burst] next login: {status} in {}", ms(Some(took)));
    Ok(format!(
        "burst            {n} at once: {} x 200 (p99 {}), {refused} x 503 (p50 {}, p99 {}; \
         target p99 <= {}: {}; queued: ~{}); next login {status} in {}",
        burst.count(200),
        ms(burst.percentile(200, 0.99)),
        ms(burst.percentile(503, 0.50)),
        ms(refused_p99),
        ms(Some(REFUSAL_TARGET)),
        verdict(met),
        ms(Some(queued_wait)),
        ms(Some(took)),
    ))
}

/// `n` logins released at once, each on its own connection opened (by a /healthz request)
/// beforehand, so that the burst measures the server's answer, not TCP handshakes.
async fn burst(n: usize, base: &str, login_url: &str, body: &str) -> Result<Tally> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let client = client(1)?;
        let barrier = barrier.clone();
        let (healthz, url, body) = (
            format!("{base}/healthz"),
            login_url.to_owned(),
            body.to_owned(),
        );
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let warm = send(client.get(healthz)).await;
            barrier.wait().await;
            if let Err(e) = warm {
                tally.record(Err(e), Duration::ZERO);
                return tally;
            }
            let sent = Instant::now();
            let answer = send(
                client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body),
            )
            .await;
            tally.record(answer, sent.elapsed());
            tally
        }));
    }
    let mut total = Tally::default();
    for h in handles {
        total.merge(h.await.context("a burst task failed")?);
    }
    Ok(total)
}
