//! A whole sign-in with TOTP as one flow: `POST /v1/login` (the password: one Argon2
//! verification) answers with an mfa_token, and `POST /v1/login/mfa/verify` with the code of
//! the step after the current one ends it with a session. One account per flow (a code passes
//! once per method and step), each enrolled by the setup; timed from the first request to the
//! last answer. The flow has two ceilings: the Argon2 bound of the MFA server's own costs (one
//! verification per flow), and half the `/healthz` rate (two requests per flow); the lower one
//! binds.

use super::mfa_setup::{Enrolled, MFA_PASSWORD};
use super::PhaseFigures;
use crate::ceilings::{bound_phase, Argon2Costs, Healthz};
use crate::cpu::CpuMeter;
use crate::drive::each_once;
use crate::report::{ms, noise_text};
use crate::spawn::{MFA_ARGON2_M_KIB, MFA_ARGON2_T};
use crate::tally::{send, Answer};
use crate::totp::next_step_code;
use anyhow::{Context, Result};
use std::time::Duration;

/// The costs the harness's MFA server hashes with.
const MFA_SERVER_COSTS: Argon2Costs = Argon2Costs {
    m_kib: MFA_ARGON2_M_KIB,
    t: MFA_ARGON2_T,
    p: 1,
};

#[expect(
    clippy::too_many_arguments,
    reason = "the figures of one run flow in; a struct would only rename them"
)]
pub async fn sign_in_phase(
    base: &str,
    accounts: Vec<Enrolled>,
    workers: usize,
    cores: usize,
    bound_seconds: u64,
    known_costs: bool,
    server_pid: Option<u32>,
    healthz: &Healthz,
) -> Result<PhaseFigures> {
    let n = accounts.len();
    let workers = workers.min(n);
    // the Argon2 ceiling of this server's costs; a server at --url hashes with costs unknown here
    let bound = match known_costs {
        true => Some(
            bound_phase(cores, bound_seconds, server_pid, MFA_SERVER_COSTS)
                .await?
                .rate,
        ),
        false => None,
    };
    println!("[sign-in] password + TOTP, {n} accounts, {workers} workers ...");
    let (login_url, verify_url) = (
        format!("{base}/v1/login"),
        format!("{base}/v1/login/mfa/verify"),
    );
    let cpu = CpuMeter::start(server_pid);
    let (tally, elapsed) = each_once(base, accounts, workers, move |client, jobs, i| {
        let (login_url, verify_url) = (login_url.clone(), verify_url.clone());
        async move {
            let a = jobs.get(i).context("no such account")?;
            flow(&client, &login_url, &verify_url, a).await
        }
    })
    .await?;
    let noise = cpu.others_share();
    let done = tally.count(200);
    let rate = done as f64 / elapsed.as_secs_f64();
    let http_ceiling = healthz.rate / 2.0;
    let to_healthz = rate / healthz.rate;
    let (binding, to_binding) = match bound {
        Some(b) if b < http_ceiling => ("the Argon2 bound", rate / b),
        _ => ("/healthz / 2", rate / http_ceiling),
    };
    let bound_text = bound.map_or_else(
        || "sign-in/argon2_bound = - (the server's costs are unknown)".to_owned(),
        |b| {
            format!(
                "sign-in/argon2_bound = {:.3} ({b:.0}/s at {MFA_SERVER_COSTS})",
                rate / b
            )
        },
    );
    let short = if elapsed < Duration::from_secs(1) {
        " (WARNING: under 1 s; raise --flow-accounts)"
    } else {
        ""
    };
    let (p50, p99) = (
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
    );
    println!(
        "[sign-in] {done} of {n} signed in in {:.2} s{short}, p50 {p50}, p99 {p99}, other: {}; {}",
        elapsed.as_secs_f64(),
        tally.others(&[200]),
        noise_text(noise)
    );
    let ratios = format!(
        "{bound_text}; sign-in/healthz = {to_healthz:.3}; binding ceiling: {binding} \
         ({:.0}/s), reached {to_binding:.2} of it",
        rate / to_binding
    );
    println!("[sign-in] {rate:.0} sign-ins/s; {ratios}");
    Ok(PhaseFigures {
        noise,
        summary: vec![
            format!(
                "sign-in + TOTP   {rate:.0} sign-ins/s, p50 {p50}, p99 {p99} ({done} of {n} in {:.2} s, \
                 {workers} workers; other: {}){short}",
                elapsed.as_secs_f64(),
                tally.others(&[200]),
            ),
            ratios,
        ],
    })
}

/// One sign-in; the answer that decides it (the second step's, or the first step's when that
/// was not the expected 200 with an mfa_token).
async fn flow(
    client: &reqwest::Client,
    login_url: &str,
    verify_url: &str,
    account: &Enrolled,
) -> Result<Result<Answer, reqwest::Error>> {
    let response = client
        .post(login_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({"email": account.email, "password": MFA_PASSWORD}).to_string())
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("mfa_token")?.as_str().map(str::to_owned));
    if status != 200 {
        return Ok(Ok(Answer {
            status,
            retry_after,
        }));
    }
    // the setup enrolled TOTP: a login that asks for no second factor is a broken server
    let token = token
        .with_context(|| format!("{}: the login asked for no second factor", account.email))?;
    let code = next_step_code(&account.key)?;
    let body = serde_json::json!({"mfa_token": token, "type": "totp", "code": code}).to_string();
    Ok(send(
        client
            .post(verify_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body),
    )
    .await)
}
