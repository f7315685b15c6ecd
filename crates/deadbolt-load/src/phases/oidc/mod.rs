//! An OpenID Connect sign-in round trip for a person whose browser is already signed in (a
//! trusted device: no password, no second factor): `GET /oauth2/authorize` with the browser's
//! session cookie, answered 303 to the client's redirect URI with a code, then
//! `POST /oauth2/token` (authorization_code, PKCE S256, client_secret_basic) answered 200.
//! Whole round trips per second, closed loop, against the same run's `/healthz` rate and half
//! of it (a round trip is two requests); no target.
//!
//! It runs on the server with the default costs, after the session phases: a round trip hashes
//! no password (the client's secret is checked by a keyed hash). The setup (untimed) registers
//! a confidential first-party client with the server's own command (`deadbolt clients create`
//! against the config the harness wrote; with `--url`, `--oidc-client` names one) and signs in
//! one browser per worker on the hosted pages as a browser does: the sign-in page's CSRF cookie
//! and hidden field, the form posted with the server's origin, the load account (no second
//! factor). Every cookie the server sets is kept. One round trip is made before timing, to
//! check the flow and read which algorithm signs the ID tokens.
//!
//! A round trip counts when the token endpoint answers 200 with an ID token. Any other answer
//! (an authorization without a code, a token answer other than 200) or none fails the run,
//! after the figures are printed, and so does a setup that fails; speed never does.

mod browser;
mod client;
mod round_trip;

/// Any client, registered with the server's own command.
pub(crate) use client::create_client;
/// A confidential first-party client registered with the server's own command.
pub(crate) use client::register as register_client;

use crate::api::{EMAIL, PASSWORD};
use crate::ceilings::{Healthz, HEALTHZ_WORKERS};
use crate::cli::Cli;
use crate::cpu::CpuMeter;
use crate::drive::{closed_loop_with, in_parallel};
use crate::report::{ms, noise_text};
use crate::spawn::Spawned;
use crate::tally::{Answer, Outcome, Tally, HTTP_TIMEOUT};
use anyhow::{bail, ensure, Context, Result};
use browser::*;
use client::*;
use data_encoding::BASE64URL_NOPAD;
use rand_core::{OsRng, RngCore};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use round_trip::*;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The client's redirect URI (never fetched: the harness reads the code from the Location).
pub const REDIRECT_URI: &str = "https://rp.example/cb";
const SCOPE: &str = "openid email";
/// Browsers signing in at once during the setup (each sign-in is one Argon2 verification, and
/// the server's hash queue holds 4 x cores).
const SIGN_IN_TASKS: usize = 4;

/// The phase's figures; `broken` when a request answered wrongly (the run then fails).
pub struct OidcFigures {
    pub noise: Option<f64>,
    pub summary: Vec<String>,
    pub broken: Option<String>,
}

impl OidcFigures {
    fn skipped(why: &str) -> Self {
        println!("[oidc] skipped ({why})");
        Self {
            noise: None,
            summary: vec![format!("oidc round trip  skipped ({why})")],
            broken: None,
        }
    }
}

/// A confidential client.
pub(crate) struct Rp {
    pub(crate) id: String,
    pub(crate) secret: String,
    /// The ID-token algorithm it is registered with, where known (a client the harness
    /// registered).
    registered_alg: Option<String>,
}

/// What every worker shares.
struct Shared {
    rp: Rp,
    authorize_url: String,
    token_url: String,
}

/// The phase: setup, one checked round trip, then `--seconds` of round trips from as many
/// signed-in browsers as `/healthz` had workers.
pub async fn oidc_phase(
    cli: &Cli,
    base: &str,
    server: Option<&Spawned>,
    healthz: &Healthz,
) -> Result<OidcFigures> {
    let (common, p) = (&cli.common, &cli.phases);
    if p.skip_oidc {
        return Ok(OidcFigures::skipped("--skip-oidc"));
    }
    let given = match (server, &p.oidc_client) {
        (Some(_), _) => None,
        (None, Some(given)) => Some(given.as_str()),
        (None, None) => {
            return Ok(OidcFigures::skipped(
                "--url without --oidc-client: the harness registers a client only on a server \
                 it started",
            ))
        }
    };
    let workers = common.concurrency.unwrap_or(HEALTHZ_WORKERS);
    let where_ = match server {
        Some(_) => "on the server with the default costs",
        None => "on the server at --url",
    };
    // a setup the server answers wrongly fails the run as a timed wrong answer would: after
    // the other phases' figures
    let (browsers, alg) = match setup(base, server, given, workers, where_).await {
        Ok(ready) => ready,
        Err(e) => {
            let why = format!("{e:#}");
            println!("[oidc] setup failed: {why}");
            return Ok(OidcFigures {
                noise: None,
                summary: vec![format!(
                    "OIDC round trip  not measured: the setup failed: {why}"
                )],
                broken: Some(format!("the OpenID Connect setup failed: {why}")),
            });
        }
    };

    let seconds = common.seconds;
    println!(
        "[oidc] GET /oauth2/authorize + POST /oauth2/token, {workers} signed-in browsers, \
         {seconds} s ..."
    );
    let window = Duration::from_secs(seconds);
    let cpu = CpuMeter::start(server.and_then(Spawned::pid));
    // the tally counts the window only; a wrong answer in the warm-up fails the run too
    let failed = Arc::new(AtomicUsize::new(0));
    let failures = failed.clone();
    // each browser brings its own client (no redirects followed); the loop's is left unused
    let tally = closed_loop_with(browsers, window, move |_, mut browser| {
        let failures = failures.clone();
        async move {
            let (outcome, _) = round_trip(&mut browser).await;
            if outcome.failed() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            (browser, outcome)
        }
    })
    .await?;
    let failed = failed.load(Ordering::Relaxed);
    let noise = cpu.others_share();
    let rate = tally.count(200) as f64 / window.as_secs_f64();
    let (to_healthz, to_half) = (rate / healthz.rate, rate / (healthz.rate / 2.0));
    let (p50, p99) = (
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
    );
    let others = tally.others(&[200]);
    println!(
        "[oidc] {rate:.0} round trips/s, p50 {p50}, p99 {p99}, other: {others}; {}",
        noise_text(noise)
    );
    let ratios = format!(
        "oidc/healthz = {to_healthz:.3}; oidc/(healthz/2) = {to_half:.3} (a round trip is two \
         requests; no target: measured)"
    );
    println!("[oidc] {ratios}");
    let broken = (failed > 0).then(|| {
        format!(
            "{failed} OpenID Connect round trips went wrong (warm-up included); in the \
             window: {others}"
        )
    });
    Ok(OidcFigures {
        noise,
        summary: vec![
            format!(
                "OIDC round trip  {rate:.0} round trips/s, p50 {p50}, p99 {p99} ({workers} \
                 signed-in browsers, {seconds} s; other: {others})"
            ),
            format!(
                "                 authorize (303 with a code) + token (authorization_code, PKCE \
                 S256, client_secret_basic; ID token {alg}), first-party client, {where_}"
            ),
            ratios,
        ],
        broken,
    })
}

/// The client (registered, or given), the signed-in browsers, and one round trip made before
/// timing: the browsers, and the algorithm that signed the ID token, as the summary says it.
async fn setup(
    base: &str,
    server: Option<&Spawned>,
    given: Option<&str>,
    workers: usize,
    where_: &str,
) -> Result<(Vec<Browser>, String)> {
    let (rp, registered) = match (server, given) {
        (_, Some(given)) => (parse_client(given)?, "given by --oidc-client"),
        (Some(server), None) => (
            register(server, None).await?,
            "registered by `deadbolt clients create`",
        ),
        (None, None) => bail!("no client"),
    };
    println!(
        "[oidc] setup: client {} ({registered}), {workers} browsers signed in on the hosted \
         pages as {EMAIL} (untimed), {where_} ...",
        rp.id
    );
    let shared = Arc::new(Shared {
        rp,
        authorize_url: format!("{base}/oauth2/authorize"),
        token_url: format!("{base}/oauth2/token"),
    });
    let origin = reqwest::Url::parse(base)
        .with_context(|| format!("the server's URL {base}"))?
        .origin()
        .ascii_serialization();
    let mut browsers = {
        let (base, shared) = (base.to_owned(), shared.clone());
        in_parallel(workers, SIGN_IN_TASKS, move |_, _| {
            let (base, origin, shared) = (base.clone(), origin.clone(), shared.clone());
            async move { sign_in(&base, &origin, shared).await }
        })
        .await
        .context("signing in the browsers")?
    };
    let first = browsers.first_mut().context("no browser")?;
    let signed = first_round_trip(first).await?;
    let alg = match shared.rp.registered_alg.as_deref() {
        Some(registered) if registered != signed => format!(
            "{signed}, though the client is registered for {registered}: the figures are \
             {signed}'s"
        ),
        Some(_) => format!("{signed}, the client's registered default"),
        None => signed,
    };
    println!("[oidc] the flow answers; ID tokens signed {alg}");
    Ok((browsers, alg))
}
