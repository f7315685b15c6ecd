//! `deadbolt-load overload`: proof that overload is refused, not queued, and leaves nothing
//! behind. For each storm (logins; sign-ups and passkey starts from many client addresses):
//! a few normal logins are timed on the idle server, the storm's request is driven closed-loop
//! for --seconds to measure the capacity, then arrives open-loop at --storm-factor (2) times
//! that for --storm-seconds while the server's memory is sampled, then normal logins are timed
//! again. `report` judges each storm against the criteria.
//!
//! The spawned server runs with the defaults a deployment has (Argon2 costs, per-address
//! limits) and believes X-Forwarded-For from loopback, as it would behind a proxy, so that a
//! storm can come from 65,536 addresses each under its per-address limit: what is left to
//! hold the line is the server's own admission (the hash pool's queue, answered 503).

mod report;
mod storm;

use crate::api::{create_account, first_login, login_body, single_login, EMAIL, PASSWORD};
use crate::ceilings::HEALTHZ_WORKERS;
use crate::cli::{Cli, OverloadOptions, Storm};
use crate::drive::{closed_loop, Request};
use crate::memory::{rss, RssSampler};
use crate::report::ms;
use crate::spawn::{describe, serve, Profile, Spawned};
use crate::tally::{client, percentile, send};
use anyhow::{bail, Result};
use report::StormReport;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use storm::{address, open_loop, MakeRequest};

/// How often the server's RSS is sampled during a storm.
const RSS_EVERY: Duration = Duration::from_millis(100);

/// Every storm; returns the summary lines, and what broke when the server crashed or answered
/// anything but success, 429 or 503 with Retry-After (what is slow is reported, not failed).
pub async fn run(
    cli: &Cli,
    o: &OverloadOptions,
    cores: usize,
    dir: Option<&Path>,
) -> Result<(Vec<String>, Option<String>)> {
    let (base, mut server) = serve(&cli.common, dir, Profile::Overload).await?;
    let target = describe(&base, server.as_ref());
    let outcome = storms(cli, o, cores, &base, server.as_mut()).await;
    if let Some(server) = server {
        server.stop().await;
    }
    let reports = outcome?;
    let mut lines = vec![format!(
        "overload         {cores} cores; {target}; each storm {} s at {}x the capacity measured before it",
        o.storm_seconds, o.storm_factor
    )];
    lines.extend(report::table(&reports));
    let broken: Vec<String> = reports.iter().filter_map(StormReport::broken).collect();
    let broken =
        (!broken.is_empty()).then(|| format!("overload broke the server: {}", broken.join("; ")));
    Ok((lines, broken))
}

async fn storms(
    cli: &Cli,
    o: &OverloadOptions,
    cores: usize,
    base: &str,
    mut server: Option<&mut Spawned>,
) -> Result<Vec<StormReport>> {
    let pid = server.as_deref().and_then(Spawned::pid).or(o.server_pid);
    let login_url = format!("{base}/v1/login");
    create_account(base).await?;
    first_login(&login_url, &login_body()).await?;
    // numbers the sign-ups' emails and every request's address across capacity and storm
    let next = Arc::new(AtomicU64::new(0));
    let run_id = format!("{}", std::process::id());
    let mut reports = Vec::new();
    for &kind in &o.storms {
        println!("[{kind}] {} normal logins on the idle server ...", o.probes);
        let before = probes(&login_url, o.probes).await?;
        let before_p50 = percentile(&before, 0.5);

        let (workers, success) = match kind {
            Storm::Passkey => (cli.common.concurrency.unwrap_or(HEALTHZ_WORKERS), 200),
            Storm::Login => (cli.common.login_concurrency.unwrap_or(2 * cores), 200),
            Storm::Signup => (cli.common.login_concurrency.unwrap_or(2 * cores), 201),
        };
        let make = requests(kind, base, &run_id, o.addresses);
        println!(
            "[{kind}] capacity: closed loop, {workers} workers, {} s ...",
            cli.common.seconds
        );
        let window = Duration::from_secs(cli.common.seconds);
        let capacity_tally = {
            let (make, next) = (make.clone(), next.clone());
            let request: Request =
                Arc::new(move |c: &reqwest::Client| make(c, next.fetch_add(1, Ordering::Relaxed)));
            closed_loop(workers, window, request).await?
        };
        let capacity = capacity_tally.count(success) as f64 / window.as_secs_f64();
        println!(
            "[{kind}] capacity {capacity:.1}/s (p50 {}; other: {})",
            ms(capacity_tally.percentile(success, 0.5)),
            capacity_tally.others(&[success])
        );
        if capacity <= 0.0 {
            bail!(
                "{kind}: no request succeeded while measuring the capacity ({})",
                capacity_tally.others(&[success])
            );
        }

        let rss_before = pid.and_then(rss);
        let rate = capacity * o.storm_factor;
        println!(
            "[{kind}] storm: {rate:.1}/s open loop for {} s ...",
            o.storm_seconds
        );
        let sampler = RssSampler::start(pid, RSS_EVERY);
        let first = next.load(Ordering::Relaxed);
        let storm = open_loop(
            rate,
            Duration::from_secs(o.storm_seconds),
            o.max_in_flight,
            first,
            make,
        )
        .await?;
        let sampled_peak = sampler.stop().await;
        next.store(first + storm.sent + storm.shed, Ordering::Relaxed);

        let after = probes(&login_url, o.probes).await?;
        let alive = server.as_deref_mut().is_none_or(Spawned::alive);
        let healthz = send(client(1)?.get(format!("{base}/healthz")))
            .await
            .is_ok_and(|a| a.status == 200);
        let report = StormReport {
            kind,
            success,
            capacity,
            rate,
            outcome: storm,
            rss_before: rss_before.map(|r| r.now_kib),
            rss_peak_before: rss_before.map(|r| r.peak_kib),
            rss_sampled_peak: sampled_peak,
            rss_hwm: pid.and_then(rss).map(|r| r.peak_kib),
            alive,
            healthz,
            before_p50,
            after,
        };
        println!("{}", report.progress_line());
        reports.push(report);
        if !alive {
            break;
        }
    }
    Ok(reports)
}

/// `n` normal logins one after another, each on a new connection; their latencies (a login
/// that does not succeed is an error: normal traffic must be served).
async fn probes(login_url: &str, n: usize) -> Result<Vec<Duration>> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, latency) = single_login(login_url, &login_body()).await?;
        if status != 200 {
            bail!("a normal login answered {status}");
        }
        took.push(latency);
    }
    Ok(took)
}

/// The storm's n-th request: a login of the load account (normal traffic, from loopback), a
/// sign-up of a fresh email, or a passkey start, these two from the n-th address.
fn requests(kind: Storm, base: &str, run_id: &str, addresses: u32) -> MakeRequest {
    match kind {
        Storm::Login => {
            let (url, body) = (format!("{base}/v1/login"), login_body());
            Arc::new(move |c: &reqwest::Client, _| {
                c.post(url.as_str())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
        }
        Storm::Signup => {
            let (url, run_id) = (format!("{base}/v1/accounts"), run_id.to_owned());
            let domain = EMAIL
                .rsplit_once('@')
                .map_or("example.com", |(_, d)| d)
                .to_owned();
            Arc::new(move |c: &reqwest::Client, n| {
                let body = serde_json::json!({
                    "email": format!("storm-{run_id}-{n}@{domain}"),
                    "password": PASSWORD,
                });
                c.post(url.as_str())
                    .header("x-forwarded-for", address(n, addresses))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
            })
        }
        Storm::Passkey => {
            let url = format!("{base}/v1/login/passkey/start");
            Arc::new(move |c: &reqwest::Client, n| {
                c.post(url.as_str())
                    .header("x-forwarded-for", address(n, addresses))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body("{}")
            })
        }
    }
}
