//! The second step of a login, `POST /v1/login/mfa/verify` with a TOTP code, as a fraction of
//! the same server's `/healthz` rate (targets: 0.10 on SQLite, 0.05 on PostgreSQL); then the
//! whole sign-in with TOTP (`phases::sign_in`).
//!
//! The setup (untimed, `phases::mfa_setup`) enrols an account per timed sign-in, which would
//! take minutes with the server's Argon2 costs, so these phases run against a second server
//! with cheap Argon2 (m = 256 KiB, t = 1), no zxcvbn floor, a lenient MFA lockout and hour-long
//! mfa_tokens. The timed part sends every mfa_token once with the code of the step after the
//! current one, from `--mfa-concurrency` workers, timed from the first request to the last
//! answer; only 200s count.

use super::mfa_setup::{self, MfaAccount};
use super::PhaseFigures;
use crate::ceilings::{healthz_phase, Healthz, HEALTHZ_WORKERS};
use crate::cli::Cli;
use crate::cpu::{CpuMeter, CpuUse};
use crate::drive::each_once;
use crate::report::{ms, noise_text, noise_warning, noisy, percent, verdict};
use crate::spawn::{describe, Backend, Spawned, MFA_ARGON2_M_KIB, MFA_ARGON2_T};
use crate::tally::send;
use crate::totp::next_step_code;
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// Targets for verified second steps/s over the same run's /healthz rate.
const MFA_TARGET_SQLITE: f64 = 0.10;
const MFA_TARGET_POSTGRES: f64 = 0.05;
/// mfa_tokens older than this are replaced before timing (the default token life is 300 s; the
/// harness's own MFA server gives an hour).
const MFA_TOKEN_REFRESH: Duration = Duration::from_secs(240);

/// The MFA phases: /healthz (unless measured on this server already), the setup, every
/// mfa_token verified once, whole sign-ins, then the server API's checks of subjects. Returns
/// the summary lines, and what answered wrongly if anything did.
pub async fn mfa_phases(
    cli: &Cli,
    cores: usize,
    base: &str,
    server: Option<&Spawned>,
    same_server_healthz: Option<Healthz>,
) -> Result<(Vec<String>, Option<String>)> {
    let p = &cli.phases;
    let server_pid = server.and_then(Spawned::pid);
    let backend = server.map_or(Backend::Unknown, |s| s.backend);
    let target = describe(base, server);
    let costs = match server {
        Some(_) => format!("Argon2id m={MFA_ARGON2_M_KIB}KiB,t={MFA_ARGON2_T} for the setup"),
        None => "its own costs (--mfa-on-url)".to_owned(),
    };
    println!("[mfa] {target}, {costs}");
    let measured_here = same_server_healthz.is_none();
    let healthz = match same_server_healthz {
        Some(h) => h,
        None => healthz_phase(&cli.common, base, server_pid, "mfa healthz").await?,
    };

    let mail_dir = server
        .and_then(|s| s.mail_dir.clone())
        .or_else(|| p.mail_dir.clone())
        .context(
            "the MFA setup proves each account's address with the code mailed to it: \
             give --mail-dir (the server's [email] file_dir)",
        )?;
    let (n, flows, tasks) = (p.mfa_accounts, p.flow_accounts, p.mfa_setup_concurrency);
    println!(
        "[mfa] setup: {} accounts, TOTP enrolled and confirmed; {n} of them logged in up to \
         the second step ({tasks} at once) ...",
        n + flows
    );
    let started = Instant::now();
    let (mut accounts, flow_accounts) = mfa_setup::setup(base, mail_dir, n, flows, tasks)
        .await
        .context("MFA setup")?;
    let setup_time = started.elapsed();
    println!(
        "[mfa] setup took {:.1} s ({:.0} accounts/s)",
        setup_time.as_secs_f64(),
        (n + flows) as f64 / setup_time.as_secs_f64()
    );
    // Tokens the server may have let expire meanwhile are replaced (not with the harness's own
    // server, whose tokens live an hour, unless the setup took minutes).
    if accounts
        .iter()
        .any(|a| a.issued.elapsed() > MFA_TOKEN_REFRESH)
    {
        println!("[mfa] the setup outlasted {MFA_TOKEN_REFRESH:?}: fresh mfa_tokens ...");
        mfa_setup::renew_tokens(base, &mut accounts, tasks).await?;
    }

    let workers = p
        .mfa_concurrency
        .or(cli.common.concurrency)
        .unwrap_or(HEALTHZ_WORKERS);
    let verify = verify_phase(base, accounts, workers, server_pid, backend, &healthz).await?;

    let healthz_line = if measured_here {
        format!(
            "GET /healthz     {:.0} req/s, p50 {}, p99 {} (on the MFA server; {} workers, {} s; other: {})",
            healthz.rate,
            ms(healthz.tally.percentile(200, 0.50)),
            ms(healthz.tally.percentile(200, 0.99)),
            healthz.workers,
            cli.common.seconds,
            healthz.tally.others(&[200]),
        )
    } else {
        format!(
            "GET /healthz     {:.0} req/s: the figure above, from the same server",
            healthz.rate
        )
    };
    let mut lines = vec![
        format!("mfa server       {target}; {costs}"),
        format!(
            "mfa setup        {} accounts in {:.1} s ({tasks} at once)",
            n + flows,
            setup_time.as_secs_f64()
        ),
        healthz_line,
    ];
    lines.extend(verify.summary);
    let flow = super::sign_in::sign_in_phase(
        base,
        flow_accounts,
        workers,
        cores,
        cli.common.bound_seconds,
        server.is_some(),
        server_pid,
        &healthz,
    )
    .await?;
    lines.extend(flow.summary);
    // the server API's checks: subjects enrol with recovery codes (hashed with Argon2), so they
    // too are set up on this server
    let subjects = super::subject_checks::subject_phase(cli, base, server, &healthz).await?;
    lines.extend(subjects.summary);
    lines.push(format!(
        "other CPU        healthz {} / mfa verify {} / sign-in {} / subjects {}{}",
        percent(healthz.noise),
        percent(verify.noise),
        percent(flow.noise),
        percent(subjects.noise),
        noise_warning(noisy(&[
            healthz.noise,
            verify.noise,
            flow.noise,
            subjects.noise
        ]))
    ));
    Ok((lines, subjects.broken))
}

/// Every account's mfa_token verified once, right away, by `workers` workers.
async fn verify_phase(
    base: &str,
    accounts: Vec<MfaAccount>,
    workers: usize,
    server_pid: Option<u32>,
    backend: Backend,
    healthz: &Healthz,
) -> Result<PhaseFigures> {
    let n = accounts.len();
    let workers = workers.min(n);
    println!("[mfa] POST /v1/login/mfa/verify (TOTP), {n} tokens, {workers} workers ...");
    let url = format!("{base}/v1/login/mfa/verify");
    let cpu = CpuMeter::start(server_pid);
    let (tally, elapsed) = each_once(base, accounts, workers, move |client, jobs, i| {
        let url = url.clone();
        async move {
            let a = jobs.get(i).context("no such account")?;
            let code = next_step_code(&a.account.key)?;
            let body = serde_json::json!({"mfa_token": a.mfa_token, "type": "totp", "code": code})
                .to_string();
            Ok(send(
                client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body),
            )
            .await)
        }
    })
    .await?;
    let noise = cpu.others_share();
    let used = cpu.used();
    let verified = tally.count(200);
    let rate = verified as f64 / elapsed.as_secs_f64();
    let ratio = rate / healthz.rate;
    let short = if elapsed < Duration::from_secs(1) {
        " (WARNING: under 1 s; raise --mfa-accounts)"
    } else {
        ""
    };
    let (p50, p99) = (
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
    );
    let judged = mfa_verdict(backend, ratio);
    println!(
        "[mfa] {verified} of {n} verified in {:.2} s{short}, other: {}; {}",
        elapsed.as_secs_f64(),
        tally.others(&[200]),
        noise_text(noise)
    );
    println!(
        "mfa verify: {rate:.0} verifications/s, p50 {p50}, p99 {p99}; ratio to /healthz = {ratio:.3} ({judged})"
    );
    Ok(PhaseFigures {
        noise,
        summary: vec![
            format!(
                "mfa verify       {rate:.0} verifications/s, p50 {p50}, p99 {p99} ({verified} of {n} in {:.2} s, \
                 {workers} workers; other: {}){short}",
                elapsed.as_secs_f64(),
                tally.others(&[200]),
            ),
            format!("mfa/healthz = {ratio:.3} ({judged})"),
            cpu_per_verification(used.as_ref(), verified, backend),
        ],
    })
}

/// Where the CPU went, per verification: on one host, what the ratio can reach is bound by the
/// sum (all cores busy: cores / sum verifications a second).
fn cpu_per_verification(used: Option<&CpuUse>, verified: usize, backend: Backend) -> String {
    let per = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0 / verified as f64);
    let database = match backend {
        Backend::Postgres => " (PostgreSQL's among them)",
        _ => "",
    };
    match used {
        Some(u) if verified > 0 && backend != Backend::Unknown => format!(
            "cpu/verification server {}, harness {}, other processes {}{database}",
            per(u.server),
            per(u.harness),
            per(u.others),
        ),
        Some(u) if verified > 0 => format!(
            "cpu/verification harness {}, other processes {} (the server at --url among them when it runs here)",
            per(u.harness),
            per(u.others + u.server),
        ),
        _ => "cpu/verification -".to_owned(),
    }
}

/// "target >= 0.10 on SQLite: met"; for a server at --url, both targets.
fn mfa_verdict(backend: Backend, ratio: f64) -> String {
    match backend {
        Backend::Sqlite => format!(
            "target >= {MFA_TARGET_SQLITE:.2} on SQLite: {}",
            verdict(ratio >= MFA_TARGET_SQLITE)
        ),
        Backend::Postgres => format!(
            "target >= {MFA_TARGET_POSTGRES:.2} on PostgreSQL: {}",
            verdict(ratio >= MFA_TARGET_POSTGRES)
        ),
        Backend::Unknown => format!(
            "targets >= {MFA_TARGET_SQLITE:.2} SQLite / >= {MFA_TARGET_POSTGRES:.2} PostgreSQL: {} / {}",
            verdict(ratio >= MFA_TARGET_SQLITE),
            verdict(ratio >= MFA_TARGET_POSTGRES)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::tick_time;

    #[test]
    fn cpu_is_split_per_verification() {
        let used = CpuUse {
            harness: tick_time(10),
            server: tick_time(50),
            others: Duration::from_millis(1500),
        };
        assert_eq!(
            cpu_per_verification(Some(&used), 1000, Backend::Postgres),
            "cpu/verification server 0.500 ms, harness 0.100 ms, other processes 1.500 ms \
             (PostgreSQL's among them)"
        );
        assert!(cpu_per_verification(Some(&used), 1000, Backend::Unknown)
            .contains("other processes 2.000 ms"));
        assert_eq!(
            cpu_per_verification(Some(&used), 0, Backend::Sqlite),
            "cpu/verification -"
        );
    }
}
