//! The measuring phases (the default mode), in order: on a server with the default costs,
//! `/healthz`, password logins between two Argon2 bounds, a burst of logins, `GET /v1/me`,
//! token refreshes, OpenID Connect round trips from signed-in browsers and devices' polls while
//! they wait for their person (RFC 8628); then, on a server
//! with cheap Argon2, the MFA second step, the whole sign-in with TOTP, and the server API's
//! second-factor checks of a product's own users (subjects).

mod device_polls;
mod login;
mod mfa;
mod mfa_setup;
mod oidc;
mod session;
mod sign_in;
mod subject_checks;

pub use login::REFUSAL_TARGET;

use crate::ceilings::{healthz_phase, Healthz, HEALTHZ_WORKERS};
use crate::cli::Cli;
use crate::report::{noise_warning, noisy, percent};
use crate::spawn::{describe, serve, Profile, Spawned};
use anyhow::Result;
use std::path::Path;

/// Every phase; returns the summary lines, and what answered wrongly if anything did (the run
/// then fails, after the summary: speed never fails it).
pub async fn run(
    cli: &Cli,
    cores: usize,
    dir: Option<&Path>,
) -> Result<(Vec<String>, Option<String>)> {
    let (common, p) = (&cli.common, &cli.phases);
    let mut summary = Vec::new();
    let mut url_healthz = None;
    let mut broken = None;
    if !p.mfa_only {
        let (base, server) = serve(common, dir, Profile::Default).await?;
        let outcome = default_server_phases(cli, cores, &base, server.as_ref()).await;
        if let Some(server) = server {
            server.stop().await;
        }
        let (lines, healthz, wrong) = outcome?;
        summary.extend(lines);
        broken = wrong;
        // with --url, the MFA phases run against the very server this figure comes from
        url_healthz = common.url.is_some().then_some(healthz);
    }
    if p.skip_mfa {
        return Ok((summary, broken));
    }
    if common.url.is_some() && !p.mfa_on_url {
        let why = "--url without --mfa-on-url: the setup needs a server with cheap Argon2 costs";
        println!("[mfa] skipped ({why})");
        summary.push(format!("mfa phases       skipped ({why})"));
        return Ok((summary, broken));
    }
    let (base, server) = serve(common, dir, Profile::CheapMfa).await?;
    let outcome = mfa::mfa_phases(cli, cores, &base, server.as_ref(), url_healthz).await;
    if let Some(server) = server {
        server.stop().await;
    }
    let (lines, wrong) = outcome?;
    summary.extend(lines);
    Ok((summary, broken.or(wrong)))
}

/// The phases on the server with the default costs; returns their summary lines, the /healthz
/// figure, and what answered wrongly in the OpenID Connect phase.
async fn default_server_phases(
    cli: &Cli,
    cores: usize,
    base: &str,
    server: Option<&Spawned>,
) -> Result<(Vec<String>, Healthz, Option<String>)> {
    let common = &cli.common;
    let login_workers = common
        .login_concurrency
        .or(common.concurrency)
        .unwrap_or(2 * cores);
    let server_pid = server.and_then(Spawned::pid);
    let target = describe(base, server);
    println!("deadbolt-load: {cores} cores, {target}");

    let healthz = healthz_phase(common, base, server_pid, "healthz").await?;
    let logins = login::login_phase(
        base,
        cores,
        login_workers,
        common.seconds,
        common.bound_seconds,
        server_pid,
    )
    .await?;
    let burst = login::burst_phase(base, cli.phases.burst, logins.bound).await?;
    // as many sessions as /healthz had workers, so both sides of the ratios have as many clients
    let sessions = session::sessions(base, common.concurrency.unwrap_or(HEALTHZ_WORKERS)).await?;
    let me = session::me_phase(base, &sessions, common.seconds, &healthz, server_pid).await?;
    let refresh =
        session::refresh_phase(base, &sessions, common.seconds, &healthz, server_pid).await?;
    let oidc = oidc::oidc_phase(cli, base, server, &healthz).await?;
    let device = device_polls::device_phase(cli, base, server, &healthz).await?;

    let mut lines = vec![
        format!("host             {cores} cores; {target}"),
        format!(
            "GET /healthz     {:.0} req/s, p50 {}, p99 {} ({} workers, {} s; other: {})",
            healthz.rate,
            crate::report::ms(healthz.tally.percentile(200, 0.50)),
            crate::report::ms(healthz.tally.percentile(200, 0.99)),
            healthz.workers,
            common.seconds,
            healthz.tally.others(&[200]),
        ),
    ];
    lines.extend(logins.summary);
    lines.push(burst);
    lines.extend(me.summary);
    lines.extend(refresh.summary);
    lines.extend(oidc.summary);
    lines.extend(device.figures.summary);
    let shares = [
        logins.bound_noise[0],
        healthz.noise,
        logins.noise,
        logins.bound_noise[1],
        me.noise,
        refresh.noise,
        oidc.noise,
        device.figures.noise,
    ];
    lines.push(format!(
        "other CPU        bound {} / healthz {} / login {} / bound {} / me {} / refresh {} / \
         oidc {} / device {}{}",
        percent(shares[0]),
        percent(shares[1]),
        percent(shares[2]),
        percent(shares[3]),
        percent(shares[4]),
        percent(shares[5]),
        percent(shares[6]),
        percent(shares[7]),
        noise_warning(noisy(&shares)),
    ));
    Ok((lines, healthz, oidc.broken.or(device.broken)))
}

/// What a timed phase reports: its lines, and how noisy the machine was meanwhile.
pub struct PhaseFigures {
    pub noise: Option<f64>,
    pub summary: Vec<String>,
}
