//! `deadbolt-load`: the HTTP load harness.
//!
//! It drives `GET /healthz` and password logins against a running server and prints throughput,
//! p50 and p99, and the login rate as a fraction of the Argon2 bound: the verification rate of
//! as many threads as there are cores, measured in the same run with the server's parameters.
//! A login costs one Argon2 verification, so that bound is the most a server on this machine can
//! reach; the target is 0.90 of it. A last phase fires a burst of logins at once: past the hash
//! pool's bound the server must answer 503 in milliseconds instead of queueing.
//!
//! The MFA phase times the second step of a login, `POST /v1/login/mfa/verify` with a TOTP code,
//! as a fraction of the same run's `/healthz` rate (targets: 0.10 on SQLite, 0.05 on
//! PostgreSQL). A TOTP code passes once per method and time step, so every verification needs an
//! account of its own: the setup (untimed) creates `--mfa-accounts` accounts, enrols and
//! confirms TOTP for each (which spends the current step) and logs in again for an mfa_token.
//! The timed part then sends every mfa_token once with the code of the step after the current
//! one (computed when the request leaves, so it is in the server's window and newer than the
//! step the confirmation spent), from `--mfa-concurrency` workers, timed from the first request
//! to the last answer; only 200s count. That setup would take minutes with the server's Argon2
//! costs, so this phase runs against a second server, started after the first has stopped, with
//! cheap Argon2 (m = 256 KiB, t = 1), no zxcvbn floor, a lenient MFA lockout and hour-long
//! mfa_tokens, on the same database URL; its own `/healthz` rate is measured first for the ratio.
//!
//! ```text
//! cargo build --release -p deadbolt -p deadbolt-load
//! target/release/deadbolt-load [--url URL] [--seconds N] [--concurrency C] [--mfa-accounts N]
//! ```
//!
//! Without `--url` it starts `deadbolt serve` (the binary next to this one) on a free loopback
//! port with a fresh SQLite database in a temporary directory (`--database-url` points it at
//! PostgreSQL instead), and stops it at the end. Each phase runs one second of warm-up, then
//! counts the requests that complete within the next N seconds. With `--url` the MFA phase is
//! skipped unless `--mfa-on-url` says that server is configured like the harness's MFA server
//! (cheap `[password]` costs, `[mfa]` TOTP defaults: SHA-1, 6 digits, 30 s, skew 1, and mail
//! written to files under `--mail-dir`, where the setup reads each account's code); the ratio is
//! then taken against the `/healthz` rate measured on that server in the same run.

use anyhow::{bail, ensure, Context, Result};

/// The server's allocator (see `main.rs`), so that the Argon2 bound measured here is the
/// server's own ceiling: with glibc's malloc each 19 MiB hash block is mapped and unmapped
/// anew, and the server, reusing its blocks, outran a bound measured that way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use clap::Parser;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EMAIL: &str = "load@example.com";
const PASSWORD: &str = "correct horse battery staple 42";
/// The server's default Argon2id parameters (OWASP: m = 19 MiB, t = 2, p = 1).
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;
/// Target for logins/s over the Argon2 bound.
const LOGIN_TARGET: f64 = 0.90;
/// "Overload answered with 503 in milliseconds": the p99 of the refusals must stay below this.
const OVERLOAD_TARGET: Duration = Duration::from_millis(100);
/// Above this share of the CPU taken by other processes, the summary warns of noise.
const NOISE_WARNING: f64 = 0.10;
/// Requests that complete during this first part of a phase are not counted.
const WARMUP: Duration = Duration::from_secs(1);
/// No HTTP timeout shorter than this: a slow answer is a measurement, not an error.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a spawned server may take to answer /healthz.
const STARTUP: Duration = Duration::from_secs(30);

/// MFA phase: the TOTP parameters of the server's `[mfa]` defaults.
const TOTP_PERIOD: u64 = 30;
const TOTP_DIGITS: u32 = 6;
/// The password of the MFA accounts (the MFA server asks for no zxcvbn score).
const MFA_PASSWORD: &str = "mfa-load-password";
/// The MFA server's Argon2id costs: setup makes two hashes and two verifications per account.
const MFA_ARGON2_M_KIB: u32 = 256;
const MFA_ARGON2_T: u32 = 1;
/// Targets for verified second steps/s over the same run's /healthz rate.
const MFA_TARGET_SQLITE: f64 = 0.10;
const MFA_TARGET_POSTGRES: f64 = 0.05;
/// mfa_tokens older than this are replaced before timing (the default token life is 300 s; the
/// harness's own MFA server gives an hour).
const MFA_TOKEN_REFRESH: Duration = Duration::from_secs(240);
/// Default workers of the /healthz phase, and of the MFA phase.
const HEALTHZ_WORKERS: usize = 32;
/// A setup request answered 503 (hash pool full) is retried this often, 20 ms apart.
const BUSY_RETRIES: u32 = 250;

#[derive(Parser, Debug)]
#[command(
    name = "deadbolt-load",
    version,
    about = "HTTP load harness: /healthz and password logins against the Argon2 bound"
)]
struct Args {
    /// Base URL of a running server; without it, the harness starts `deadbolt serve` itself.
    #[arg(long)]
    url: Option<String>,
    /// Seconds measured per phase (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent workers (default: 32 for /healthz, 2 x cores for logins).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Concurrent login workers, when they should differ from --concurrency.
    #[arg(long)]
    login_concurrency: Option<usize>,
    /// Logins fired at once in the overload phase.
    #[arg(long, default_value_t = 400)]
    burst: usize,
    /// Seconds spent measuring the Argon2 bound.
    #[arg(long, default_value_t = 3)]
    bound_seconds: u64,
    /// Database for the spawned server (e.g. postgres://...); default: SQLite in a temp dir.
    #[arg(long)]
    database_url: Option<String>,
    /// The `deadbolt` binary to spawn (default: the one next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keep the spawned server's temporary directory (config, database, log).
    #[arg(long)]
    keep: bool,
    /// MFA phase: accounts enrolled beforehand, one timed verification each (the default keeps
    /// the setup near half a minute on 2 cores and the timed part over a second).
    #[arg(long, default_value_t = 12_000)]
    mfa_accounts: usize,
    /// MFA phase: concurrent verification workers (default: as many as the /healthz phase's,
    /// so that both sides of the ratio are driven by the same number of clients).
    #[arg(long)]
    mfa_concurrency: Option<usize>,
    /// MFA phase: concurrent tasks setting up accounts.
    #[arg(long, default_value_t = 16)]
    mfa_setup_concurrency: usize,
    /// With --url: that server has cheap Argon2 costs, a lockout allowing thousands of accounts
    /// and the [mfa] TOTP defaults, so the MFA phase may run against it.
    #[arg(long, requires = "url")]
    mfa_on_url: bool,
    /// With --mfa-on-url: the server's `[email] file_dir`, where the setup reads the codes that
    /// prove each account's address (its `smtp_url` unset).
    #[arg(long, requires = "mfa_on_url")]
    mail_dir: Option<PathBuf>,
    /// Only the MFA phase (with its own /healthz measurement).
    #[arg(long, conflicts_with = "skip_mfa")]
    mfa_only: bool,
    /// No MFA phase.
    #[arg(long)]
    skip_mfa: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!((1..=600).contains(&args.seconds), "--seconds: 1 to 600");
    ensure!(
        (1..=60).contains(&args.bound_seconds),
        "--bound-seconds: 1 to 60"
    );
    for c in [args.concurrency, args.login_concurrency]
        .into_iter()
        .flatten()
    {
        ensure!((1..=4096).contains(&c), "concurrency: 1 to 4096");
    }
    ensure!((1..=10_000).contains(&args.burst), "--burst: 1 to 10000");
    ensure!(
        (1..=1_000_000).contains(&args.mfa_accounts),
        "--mfa-accounts: 1 to 1000000"
    );
    ensure!(
        (1..=4096).contains(&args.mfa_concurrency.unwrap_or(1)),
        "--mfa-concurrency: 1 to 4096"
    );
    ensure!(
        (1..=256).contains(&args.mfa_setup_concurrency),
        "--mfa-setup-concurrency: 1 to 256"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The spawned servers share this directory: the master key (on PostgreSQL they share the
    // database too, whose signing keys it seals), configs, logs and SQLite files.
    let dir = match &args.url {
        Some(_) => None,
        None => {
            let dir = std::env::temp_dir().join(format!("deadbolt-load-{}", std::process::id()));
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Some(dir)
        }
    };
    let outcome = all_phases(&args, cores, dir.as_deref()).await;
    if let Some(dir) = dir {
        if outcome.is_ok() && !args.keep {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            eprintln!(
                "server files kept in {} (configs, databases, logs)",
                dir.display()
            );
        }
    }
    let lines = outcome?;
    println!(
        "\n==== deadbolt-load summary ====\n{}\n===============================",
        lines.join("\n")
    );
    Ok(())
}

/// The login phases on a server with the default costs, then the MFA phase on a cheap one;
/// returns the summary lines.
async fn all_phases(args: &Args, cores: usize, dir: Option<&Path>) -> Result<Vec<String>> {
    let mut summary = Vec::new();
    let mut url_healthz = None;
    if !args.mfa_only {
        let (base, server) = serve(args, dir, Profile::Default).await?;
        let outcome = measure(args, cores, &base, server.as_ref()).await;
        if let Some(server) = server {
            server.stop().await;
        }
        let (lines, healthz) = outcome?;
        summary.extend(lines);
        // with --url, the MFA phase runs against the very server this figure comes from
        url_healthz = args.url.is_some().then_some(healthz);
    }
    if args.skip_mfa {
        return Ok(summary);
    }
    if args.url.is_some() && !args.mfa_on_url {
        let why = "--url without --mfa-on-url: the setup needs a server with cheap Argon2 costs";
        println!("[mfa] skipped ({why})");
        summary.push(format!("mfa verify       skipped ({why})"));
        return Ok(summary);
    }
    let (base, server) = serve(args, dir, Profile::CheapMfa).await?;
    let outcome = mfa_phase(args, &base, server.as_ref(), url_healthz).await;
    if let Some(server) = server {
        server.stop().await;
    }
    summary.extend(outcome?);
    Ok(summary)
}

/// The server at --url, or one spawned with `profile` in `dir`.
async fn serve(
    args: &Args,
    dir: Option<&Path>,
    profile: Profile,
) -> Result<(String, Option<Spawned>)> {
    if let Some(url) = &args.url {
        return Ok((url.trim_end_matches('/').to_owned(), None));
    }
    let dir = dir.context("no directory for the server")?;
    let server = Spawned::start(args, dir, profile).await?;
    Ok((server.base.clone(), Some(server)))
}

/// A /healthz measurement.
struct Healthz {
    rate: f64,
    tally: Tally,
    workers: usize,
    noise: Option<f64>,
}

/// The no-op endpoint, closed loop, for --seconds after the warm-up.
async fn healthz_phase(
    args: &Args,
    base: &str,
    server_pid: Option<u32>,
    tag: &str,
) -> Result<Healthz> {
    let workers = args.concurrency.unwrap_or(HEALTHZ_WORKERS);
    let window = Duration::from_secs(args.seconds);
    let url = format!("{base}/healthz");
    println!(
        "[{tag}] GET /healthz, {workers} workers, {} s ...",
        args.seconds
    );
    let cpu = CpuMeter::start(server_pid);
    let tally = closed_loop(
        workers,
        window,
        Arc::new(move |c: &reqwest::Client| c.get(url.as_str())),
    )
    .await?;
    let noise = cpu.others_share();
    let rate = tally.count(200) as f64 / window.as_secs_f64();
    println!(
        "[{tag}] {rate:.0} req/s, p50 {}, p99 {}, other: {}; {}",
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
        tally.others(&[200]),
        noise_text(noise)
    );
    Ok(Healthz {
        rate,
        tally,
        workers,
        noise,
    })
}

/// The login phases in order; returns their summary lines and the /healthz figure.
async fn measure(
    args: &Args,
    cores: usize,
    base: &str,
    server: Option<&Spawned>,
) -> Result<(Vec<String>, Healthz)> {
    let login_workers = args
        .login_concurrency
        .or(args.concurrency)
        .unwrap_or(2 * cores);
    let window = Duration::from_secs(args.seconds);
    let server_pid = server.and_then(|s| s.child.id());
    let target = describe(base, server);
    println!("deadbolt-load: {cores} cores, {target}");

    // Phase 1: the no-op endpoint.
    let healthz = healthz_phase(args, base, server_pid, "healthz").await?;
    let (healthz_rate, healthz_workers, healthz_noise) =
        (healthz.rate, healthz.workers, healthz.noise);

    // Phase 2: password logins, as many at once as keep every hash thread busy, between two
    // measurements of the Argon2 bound; the higher one counts, so noise cannot flatter the ratio.
    create_account(base).await?;
    let login_url = format!("{base}/v1/login");
    let login_body = serde_json::json!({"email": EMAIL, "password": PASSWORD}).to_string();
    first_login(&login_url, &login_body).await?;
    let bound_before = bound_phase(cores, args.bound_seconds, server_pid).await?;
    println!(
        "[login] POST /v1/login, {login_workers} workers, {} s ...",
        args.seconds
    );
    let request: Request = {
        let (url, body) = (login_url.clone(), login_body.clone());
        Arc::new(move |c: &reqwest::Client| {
            c.post(url.as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
    };
    let cpu = CpuMeter::start(server_pid);
    let login = closed_loop(login_workers, window, request).await?;
    let login_noise = cpu.others_share();
    let login_rate = login.count(200) as f64 / window.as_secs_f64();
    println!(
        "[login] {login_rate:.1} logins/s, p50 {}, p99 {}, other: {}; {}",
        ms(login.percentile(200, 0.50)),
        ms(login.percentile(200, 0.99)),
        login.others(&[200]),
        noise_text(login_noise)
    );
    let bound_after = bound_phase(cores, args.bound_seconds, server_pid).await?;
    let bound = bound_before.rate.max(bound_after.rate);
    let per_verification = Duration::from_secs_f64(cores as f64 / bound);
    let ratio = login_rate / bound;
    println!(
        "[login] login/argon2_bound = {ratio:.2} (target >= {LOGIN_TARGET:.2}: {}; bound {bound:.1}/s, \
         the higher of {:.1} before and {:.1} after)",
        verdict(ratio >= LOGIN_TARGET),
        bound_before.rate,
        bound_after.rate
    );

    // Phase 3: overload. Every request has its own connection, opened beforehand, and all are
    // released at once. Queued, the last of them would wait about burst / bound seconds.
    println!("[overload] {} logins at once ...", args.burst);
    let burst = burst(args.burst, base, &login_url, &login_body).await?;
    let refused = burst.count(503);
    let refused_p99 = burst.percentile(503, 0.99);
    let queued_wait = Duration::from_secs_f64(args.burst as f64 / bound);
    let overload_met = refused > 0
        && burst.retry_after == refused
        && burst.others(&[200, 503]) == "none"
        && refused_p99.is_some_and(|p| p <= OVERLOAD_TARGET);
    println!(
        "[overload] {} x 200 (p50 {}, p99 {}), {refused} x 503 (p50 {}, p99 {}, max {}; \
         Retry-After on {}), other: {}; queued, the last would wait ~{}",
        burst.count(200),
        ms(burst.percentile(200, 0.50)),
        ms(burst.percentile(200, 0.99)),
        ms(burst.percentile(503, 0.50)),
        ms(refused_p99),
        ms(burst.percentile(503, 1.0)),
        burst.retry_after,
        burst.others(&[200, 503]),
        ms(Some(queued_wait))
    );
    // Afterwards the server must serve normally again.
    let (status, took) = single_login(&login_url, &login_body).await?;
    println!("[overload] next login: {status} in {}", ms(Some(took)));

    let noisy = [
        bound_before.noise,
        healthz_noise,
        login_noise,
        bound_after.noise,
    ]
    .into_iter()
    .flatten()
    .any(|n| n > NOISE_WARNING);
    let lines = format!(
        "host             {cores} cores; {target}\n\
         argon2id bound   {bound:.1} verifications/s ({cores} threads x {} s, best of 2; {} each)\n\
         GET /healthz     {healthz_rate:.0} req/s, p50 {}, p99 {} ({healthz_workers} workers, {} s; other: {})\n\
         POST /v1/login   {login_rate:.1} logins/s, p50 {}, p99 {} ({login_workers} workers, {} s; other: {})\n\
         login/argon2_bound = {ratio:.2} (target >= {LOGIN_TARGET:.2}: {})\n\
         overload         {} at once: {} x 200 (p99 {}), {refused} x 503 (p50 {}, p99 {}; \
         target p99 <= {}: {}; queued: ~{})\n\
         other CPU        bound {} / healthz {} / login {} / bound {}{}",
        args.bound_seconds,
        ms(Some(per_verification)),
        ms(healthz.tally.percentile(200, 0.50)),
        ms(healthz.tally.percentile(200, 0.99)),
        args.seconds,
        healthz.tally.others(&[200]),
        ms(login.percentile(200, 0.50)),
        ms(login.percentile(200, 0.99)),
        args.seconds,
        login.others(&[200]),
        verdict(ratio >= LOGIN_TARGET),
        args.burst,
        burst.count(200),
        ms(burst.percentile(200, 0.99)),
        ms(burst.percentile(503, 0.50)),
        ms(refused_p99),
        ms(Some(OVERLOAD_TARGET)),
        verdict(overload_met),
        ms(Some(queued_wait)),
        percent(bound_before.noise),
        percent(healthz_noise),
        percent(login_noise),
        percent(bound_after.noise),
        noise_warning(noisy),
    );
    Ok((lines.lines().map(str::to_owned).collect(), healthz))
}

/// What is being measured: a server the harness spawned, or one at --url.
fn describe(base: &str, server: Option<&Spawned>) -> String {
    match server {
        Some(s) => format!("server spawned by the harness ({})", s.database),
        None => format!("external server at {base} (its CPU counts as other processes')"),
    }
}

fn noise_warning(noisy: bool) -> &'static str {
    if noisy {
        "  (WARNING: other processes competed for the CPU; figures are noisy)"
    } else {
        ""
    }
}

struct Bound {
    rate: f64,
    /// Share of the machine's CPU other processes took meanwhile.
    noise: Option<f64>,
}

/// Measures the Argon2 bound with every core, while the server is idle.
async fn bound_phase(cores: usize, seconds: u64, server_pid: Option<u32>) -> Result<Bound> {
    println!(
        "[argon2] {cores} threads verifying m={ARGON2_M_KIB}KiB,t={ARGON2_T},p={ARGON2_P} for {seconds} s ..."
    );
    let cpu = CpuMeter::start(server_pid);
    let duration = Duration::from_secs(seconds);
    let rate = tokio::task::spawn_blocking(move || argon2_bound(cores, duration))
        .await
        .context("argon2 threads")??;
    let noise = cpu.others_share();
    println!(
        "[argon2] bound = {rate:.1} verifications/s ({} per verification per thread); {}",
        ms(Some(Duration::from_secs_f64(cores as f64 / rate))),
        noise_text(noise)
    );
    Ok(Bound { rate, noise })
}

/// Verifications per second of `threads` threads, each verifying a password against a pre-made
/// Argon2id hash with the server's parameters in a loop for `duration`. Each thread reuses one
/// memory buffer, so the figure is the hash function's own rate (cores / hash time), free of
/// allocator effects: the ceiling a server on this machine could reach.
fn argon2_bound(threads: usize, duration: Duration) -> Result<f64> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    let blocks = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = *b"deadbolt-load-01";
    let mut expected = [0u8; 32];
    argon
        .hash_password_into(PASSWORD.as_bytes(), &salt, &mut expected)
        .map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))?;

    let rates = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let argon = argon.clone();
                scope.spawn(move || -> Result<f64> {
                    let mut memory = vec![Block::default(); blocks];
                    let mut verify = || -> Result<()> {
                        let mut out = [0u8; 32];
                        argon
                            .hash_password_into_with_memory(
                                PASSWORD.as_bytes(),
                                &salt,
                                &mut out,
                                &mut memory,
                            )
                            .map_err(|e| anyhow::anyhow!("argon2 verify: {e}"))?;
                        ensure!(out == expected, "argon2 verification failed");
                        Ok(())
                    };
                    verify()?; // warm-up: the memory is touched once before timing
                    let start = Instant::now();
                    let mut done = 0u64;
                    while start.elapsed() < duration {
                        verify()?;
                        done += 1;
                    }
                    Ok(done as f64 / start.elapsed().as_secs_f64())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("an argon2 thread panicked"))?
            })
            .collect::<Result<Vec<f64>>>()
    })?;
    Ok(rates.iter().sum())
}

type Request = Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>;

/// One client (so one keep-alive connection pool) per worker.
fn client(connections: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(HTTP_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// What came back from a set of requests.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<u16, Vec<Duration>>,
    /// Answers with a Retry-After header.
    retry_after: usize,
    /// Requests that got no HTTP answer.
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, answer: Result<Answer, reqwest::Error>, latency: Duration) {
        match answer {
            Ok(a) => {
                self.latencies.entry(a.status).or_default().push(latency);
                self.retry_after += usize::from(a.retry_after);
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    fn merge(&mut self, other: Self) {
        for (status, mut l) in other.latencies {
            self.latencies.entry(status).or_default().append(&mut l);
        }
        self.retry_after += other.retry_after;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn count(&self, status: u16) -> usize {
        self.latencies.get(&status).map_or(0, Vec::len)
    }

    /// Nearest-rank percentile of the latencies of one status (`q` in 0..=1).
    fn percentile(&self, status: u16, q: f64) -> Option<Duration> {
        let mut sorted = self.latencies.get(&status)?.clone();
        sorted.sort_unstable();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted.get(rank - 1).copied()
    }

    /// The statuses other than `expected`, and transport errors: "none" or "401 x 3, ...".
    fn others(&self, expected: &[u16]) -> String {
        let mut parts: Vec<String> = self
            .latencies
            .iter()
            .filter(|(s, _)| !expected.contains(s))
            .map(|(s, l)| format!("{s} x {}", l.len()))
            .collect();
        if self.errors > 0 {
            parts.push(format!(
                "{} transport errors (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

struct Answer {
    status: u16,
    retry_after: bool,
}

/// Sends a request and reads the whole answer.
async fn send(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    response.bytes().await?;
    Ok(Answer {
        status,
        retry_after,
    })
}

/// `workers` workers each send one request after another. Requests that complete during the
/// warm-up or after `window` are not counted; requests in flight when the window closes keep
/// the server busy until then, so the counted rate is the steady state.
async fn closed_loop(workers: usize, window: Duration, request: Request) -> Result<Tally> {
    let window_start = Instant::now() + WARMUP;
    let window_end = window_start + window;
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = client(1)?;
        let request = request.clone();
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < window_end {
                let sent = Instant::now();
                let answer = send(request(&client)).await;
                let done = Instant::now();
                let failed = answer.is_err();
                if done >= window_start && done <= window_end {
                    tally.record(answer, done - sent);
                }
                if failed {
                    // no hot loop against a refusing port
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for h in handles {
        total.merge(h.await.context("a worker failed")?);
    }
    Ok(total)
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

/// Creates the load account; an existing one (a reused database) is fine.
async fn create_account(base: &str) -> Result<()> {
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

async fn single_login(url: &str, body: &str) -> Result<(u16, Duration)> {
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
async fn first_login(url: &str, body: &str) -> Result<()> {
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

/// An account set up for the MFA phase.
struct MfaAccount {
    email: String,
    /// The TOTP secret (raw bytes).
    key: Vec<u8>,
    mfa_token: String,
    /// When the mfa_token was issued.
    issued: Instant,
}

/// The MFA phase: /healthz (unless measured on this server already), the setup, then every
/// mfa_token verified once. Returns the summary lines.
async fn mfa_phase(
    args: &Args,
    base: &str,
    server: Option<&Spawned>,
    same_server_healthz: Option<Healthz>,
) -> Result<Vec<String>> {
    let server_pid = server.and_then(|s| s.child.id());
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
        None => healthz_phase(args, base, server_pid, "mfa healthz").await?,
    };

    let mail_dir = server
        .and_then(|s| s.mail_dir.clone())
        .or_else(|| args.mail_dir.clone())
        .context(
            "the MFA setup proves each account's address with the code mailed to it: \
             give --mail-dir (the server's [email] file_dir)",
        )?;
    let n = args.mfa_accounts;
    let setup_tasks = args.mfa_setup_concurrency;
    println!("[mfa] setup: {n} accounts, TOTP enrolled and confirmed, one mfa_token each ({setup_tasks} at once) ...");
    let started = Instant::now();
    let run_id = format!("{}-{}", std::process::id(), unix_seconds()?);
    let mut accounts = {
        let base = base.to_owned();
        in_parallel(n, setup_tasks, move |client, i| {
            let (base, email) = (base.clone(), format!("mfa-{run_id}-{i}@example.com"));
            let mail_dir = mail_dir.clone();
            async move { enroll(&client, &base, &mail_dir, email).await }
        })
        .await
        .context("MFA setup")?
    };
    let setup_time = started.elapsed();
    println!(
        "[mfa] setup took {:.1} s ({:.0} accounts/s)",
        setup_time.as_secs_f64(),
        n as f64 / setup_time.as_secs_f64()
    );
    // Tokens the server may have let expire meanwhile are replaced (not with the harness's own
    // server, whose tokens live an hour, unless the setup took minutes).
    if accounts
        .iter()
        .any(|a| a.issued.elapsed() > MFA_TOKEN_REFRESH)
    {
        println!("[mfa] the setup outlasted {MFA_TOKEN_REFRESH:?}: fresh mfa_tokens ...");
        let emails: Arc<Vec<String>> = Arc::new(accounts.iter().map(|a| a.email.clone()).collect());
        let base = base.to_owned();
        let fresh = in_parallel(n, setup_tasks, move |client, i| {
            let (base, emails) = (base.clone(), emails.clone());
            async move {
                let email = emails.get(i).context("no such account")?;
                mfa_login(&client, &base, email).await
            }
        })
        .await
        .context("renewing the mfa_tokens")?;
        for (account, token) in accounts.iter_mut().zip(fresh) {
            account.mfa_token = token;
            account.issued = Instant::now();
        }
    }

    // Timed: every mfa_token once, right away.
    let workers = args
        .mfa_concurrency
        .or(args.concurrency)
        .unwrap_or(HEALTHZ_WORKERS)
        .min(n);
    println!("[mfa] POST /v1/login/mfa/verify (TOTP), {n} tokens, {workers} workers ...");
    let cpu = CpuMeter::start(server_pid);
    let (tally, elapsed) = verify_all(base, &accounts, workers).await?;
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

    let healthz_line = if measured_here {
        format!(
            "GET /healthz     {:.0} req/s, p50 {}, p99 {} (on the MFA server; {} workers, {} s; other: {})",
            healthz.rate,
            ms(healthz.tally.percentile(200, 0.50)),
            ms(healthz.tally.percentile(200, 0.99)),
            healthz.workers,
            args.seconds,
            healthz.tally.others(&[200]),
        )
    } else {
        format!(
            "GET /healthz     {:.0} req/s: the figure above, from the same server",
            healthz.rate
        )
    };
    let noisy = [healthz.noise, noise]
        .into_iter()
        .flatten()
        .any(|n| n > NOISE_WARNING);
    Ok(vec![
        format!("mfa server       {target}; {costs}"),
        format!(
            "mfa setup        {n} accounts in {:.1} s ({setup_tasks} at once)",
            setup_time.as_secs_f64()
        ),
        healthz_line,
        format!(
            "mfa verify       {rate:.0} verifications/s, p50 {p50}, p99 {p99} ({verified} of {n} in {:.2} s, \
             {workers} workers; other: {}){short}",
            elapsed.as_secs_f64(),
            tally.others(&[200]),
        ),
        format!("mfa/healthz = {ratio:.3} ({judged})"),
        cpu_per_verification(used.as_ref(), verified, backend),
        format!(
            "other CPU        healthz {} / mfa verify {}{}",
            percent(healthz.noise),
            percent(noise),
            noise_warning(noisy)
        ),
    ])
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

/// `f(client, i)` for i in 0..n, `tasks` at a time (each task with its own connection); the
/// results in order of i. The first error stops the hand-out of further items.
async fn in_parallel<T, F, Fut>(n: usize, tasks: usize, f: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks.clamp(1, n.max(1)) {
        let (f, next, client) = (f.clone(), next.clone(), client(1)?);
        handles.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok(done);
                }
                match f(client.clone(), i).await {
                    Ok(t) => done.push((i, t)),
                    Err(e) => {
                        next.store(n, Ordering::Relaxed);
                        return Err(e.context(format!("item {i}")));
                    }
                }
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    let mut first_error = None;
    for h in handles {
        match h.await.context("a setup task panicked")? {
            Ok(done) => all.extend(done),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// One account: created, its address proven with the mailed code, logged in, TOTP enrolled and
/// confirmed with the current step's code (which spends that step), then logged in again for an
/// mfa_token.
async fn enroll(
    client: &reqwest::Client,
    base: &str,
    mail_dir: &Path,
    email: String,
) -> Result<MfaAccount> {
    let credentials = serde_json::json!({"email": email, "password": MFA_PASSWORD});
    call(
        client
            .post(format!("{base}/v1/accounts"))
            .json(&credentials),
        201,
        "POST /v1/accounts",
    )
    .await?;
    let code = mailed_code(mail_dir, &email).await?;
    call(
        client
            .post(format!("{base}/v1/accounts/verify"))
            .json(&serde_json::json!({"email": email, "channel": "email", "code": code})),
        200,
        "POST /v1/accounts/verify",
    )
    .await?;
    let login = call(
        client.post(format!("{base}/v1/login")).json(&credentials),
        200,
        "POST /v1/login",
    )
    .await?;
    let access = text_field(&login, "access_token")
        .with_context(|| format!("the first login gave no session: {login}"))?;
    let enrolment = call(
        client
            .post(format!("{base}/v1/me/mfa/totp"))
            .bearer_auth(&access),
        201,
        "POST /v1/me/mfa/totp",
    )
    .await?;
    let method_id = text_field(&enrolment, "method_id")?;
    let key = decode_secret(&text_field(&enrolment, "secret")?)?;
    let code = totp_code(&key, unix_seconds()? / TOTP_PERIOD);
    call(
        client
            .post(format!("{base}/v1/me/mfa/{method_id}/confirm"))
            .bearer_auth(&access)
            .json(&serde_json::json!({ "code": code })),
        200,
        "POST /v1/me/mfa/{id}/confirm",
    )
    .await?;
    let mfa_token = mfa_login(client, base, &email).await?;
    Ok(MfaAccount {
        email,
        key,
        mfa_token,
        issued: Instant::now(),
    })
}

/// The code of the message to `email` in `dir`, which is then removed (so that the directory
/// holds only what the setup has not read yet, and each scan stays short).
async fn mailed_code(dir: &Path, email: &str) -> Result<String> {
    let to = format!("To: {email}\r\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if path.extension().is_none_or(|x| x != "eml") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !text.contains(&to) {
                    continue;
                }
                let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let code = body
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
                    .with_context(|| format!("no code in the mail to {email}"))?
                    .to_owned();
                let _ = std::fs::remove_file(&path);
                return Ok(code);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "no mail to {email} in {} within 30 s",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A login that must ask for the second factor; returns the mfa_token.
async fn mfa_login(client: &reqwest::Client, base: &str, email: &str) -> Result<String> {
    let answer = call(
        client
            .post(format!("{base}/v1/login"))
            .json(&serde_json::json!({"email": email, "password": MFA_PASSWORD})),
        200,
        "POST /v1/login",
    )
    .await?;
    if answer.get("mfa_required") != Some(&serde_json::Value::Bool(true)) {
        bail!("the login after enrolment asked for no second factor: {answer}");
    }
    text_field(&answer, "mfa_token")
}

/// Sends a request, retrying while the server answers 503 (hash pool full); anything but
/// `expected` is an error. Returns the JSON answer (null when empty).
async fn call(
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

fn text_field(answer: &serde_json::Value, name: &str) -> Result<String> {
    answer
        .get(name)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {name:?} in {answer}"))
}

/// A base32 TOTP secret as the server hands it out (padding tolerated).
fn decode_secret(secret: &str) -> Result<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(secret.trim_end_matches('=').to_ascii_uppercase().as_bytes())
        .map_err(|e| anyhow::anyhow!("the TOTP secret is not base32: {e}"))
}

/// The code of a time step (the `[mfa]` defaults: HMAC-SHA-1, 6 digits, 30 s).
fn totp_code(key: &[u8], step: u64) -> String {
    totp_lite::totp_custom::<totp_lite::Sha1>(TOTP_PERIOD, TOTP_DIGITS, key, step * TOTP_PERIOD)
}

/// The wall clock: the codes are for a live server, which reads it too.
#[allow(
    clippy::disallowed_methods,
    reason = "a client of a live server, not a rule: TOTP codes follow the real clock"
)]
fn unix_seconds() -> Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}

/// Every account's mfa_token verified once by `workers` workers, each on a connection opened
/// beforehand; the code is that of the step after the current one, computed as the request
/// leaves: within the server's window (skew 1) even if the step turns on the way, and newer than
/// the step the confirmation spent. Returns the answers and the time from the release of the
/// workers (the first request) to the last answer.
async fn verify_all(
    base: &str,
    accounts: &[MfaAccount],
    workers: usize,
) -> Result<(Tally, Duration)> {
    let jobs: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        accounts
            .iter()
            .map(|a| (a.mfa_token.clone(), a.key.clone()))
            .collect(),
    );
    let workers = workers.max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let (url, healthz) = (
        Arc::new(format!("{base}/v1/login/mfa/verify")),
        Arc::new(format!("{base}/healthz")),
    );
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = client(1)?;
        let (jobs, next, barrier, url, healthz) = (
            jobs.clone(),
            next.clone(),
            barrier.clone(),
            url.clone(),
            healthz.clone(),
        );
        handles.push(tokio::spawn(async move {
            // opens the connection; a failure here shows in the timed requests
            let _ = send(client.get(healthz.as_str())).await;
            barrier.wait().await;
            let mut tally = Tally::default();
            while let Some((token, key)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                let code = totp_code(key, unix_seconds()? / TOTP_PERIOD + 1);
                let body = serde_json::json!({"mfa_token": token, "type": "totp", "code": code})
                    .to_string();
                let sent = Instant::now();
                let answer = send(
                    client
                        .post(url.as_str())
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body),
                )
                .await;
                tally.record(answer, sent.elapsed());
            }
            Ok::<_, anyhow::Error>(tally)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut total = Tally::default();
    for h in handles {
        total.merge(h.await.context("a verification worker panicked")??);
    }
    Ok((total, start.elapsed()))
}

/// How a spawned server is configured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// The server's default Argon2 costs: the login phases.
    Default,
    /// Cheap Argon2, no zxcvbn floor, a lenient MFA lockout and hour-long mfa_tokens: the MFA
    /// phase's setup makes thousands of accounts, and only the second step is timed.
    CheapMfa,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "load",
            Self::CheapMfa => "mfa",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    /// A server at --url.
    Unknown,
}

/// A `deadbolt serve` started by the harness in a temporary directory.
struct Spawned {
    child: tokio::process::Child,
    base: String,
    database: String,
    backend: Backend,
    /// Where the server writes its mail (the MFA profile: each account proves its address).
    mail_dir: Option<PathBuf>,
}

impl Spawned {
    async fn start(args: &Args, dir: &Path, profile: Profile) -> Result<Self> {
        let bin = match &args.server_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()
                .context("locating this executable")?
                .with_file_name(format!("deadbolt{}", std::env::consts::EXE_SUFFIX)),
        };
        ensure!(
            bin.is_file(),
            "no server binary at {} (build it: cargo build --release -p deadbolt -p deadbolt-load)",
            bin.display()
        );
        let name = profile.name();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let database_url = match &args.database_url {
            Some(url) => url.clone(),
            // a fresh file per server
            None => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        };
        let (database, backend) = if database_url.starts_with("sqlite://") {
            ("SQLite".to_owned(), Backend::Sqlite)
        } else {
            (
                "PostgreSQL; its CPU counts as other processes'".to_owned(),
                Backend::Postgres,
            )
        };
        let mut config = format!(
            "[server]\n\
             bind = \"127.0.0.1:{port}\"\n\
             public_url = \"http://127.0.0.1:{port}\"\n\
             [database]\n\
             url = {}\n\
             [secrets]\n\
             master_key_file = {}\n\
             [limits]\n\
             login_failures_per_account = 1000000\n\
             login_failures_per_ip = 1000000\n\
             signups_per_ip_per_hour = 1000000\n\
             [log]\n\
             level = \"warn\"\n",
            toml_string(&database_url),
            toml_string(&dir.join("master.key").display().to_string()),
        );
        let mail_dir = (profile == Profile::CheapMfa).then(|| dir.join(format!("{name}-mail")));
        match &mail_dir {
            // each account of the setup proves its address with the code mailed to it
            Some(mail) => config.push_str(&format!(
                "[email]\nfile_dir = {}\n",
                toml_string(&mail.display().to_string())
            )),
            // mail is not part of the benchmark: delivery retries in the background
            None => config.push_str("[email]\nsmtp_url = \"smtp://127.0.0.1:1\"\n"),
        }
        if profile == Profile::CheapMfa {
            config.push_str(&format!(
                "[password]\n\
                 # setup makes thousands of accounts; their hashes are not what is measured\n\
                 memory_kib = {MFA_ARGON2_M_KIB}\n\
                 iterations = {MFA_ARGON2_T}\n\
                 min_score = 0\n\
                 hash_queue = 4096\n\
                 [lockout]\n\
                 account_max_failures = 1000\n\
                 token_ttl_seconds = 3600\n"
            ));
        }
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config).context("writing the server config")?;
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone().context("opening the server log")?;

        let child = tokio::process::Command::new(&bin)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            // the configured level applies (per-request logging would cost the server time)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            database,
            backend,
            mail_dir,
        };
        if let Err(e) = server.wait_ready().await {
            server.stop().await;
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("{e:#}\nserver log:\n{log}");
        }
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let client = client(1)?;
        let url = format!("{}/healthz", self.base);
        let start = Instant::now();
        while start.elapsed() < STARTUP {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited during startup ({status})");
            }
            if let Ok(r) = client.get(url.as_str()).send().await {
                if r.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server did not answer /healthz within {STARTUP:?}")
    }

    /// Kills the server (its files stay; `run` removes the directory).
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// CPU time from Linux's /proc, to tell how much of the machine processes other than the
/// harness and its server took during a phase (elsewhere, nothing is reported).
struct CpuMeter {
    server_pid: Option<u32>,
    start: Option<CpuSample>,
}

#[derive(Clone, Copy)]
struct CpuSample {
    /// Clock ticks of all CPUs: busy, and in all.
    busy: u64,
    total: u64,
    /// Clock ticks used by this process (the harness) and by the server.
    harness: u64,
    server: u64,
}

/// CPU time a phase took, by whom.
struct CpuUse {
    harness: Duration,
    server: Duration,
    /// Every other process: the database server on PostgreSQL, and whatever else runs.
    others: Duration,
}

/// The unit of the tick counts in /proc (USER_HZ, fixed at 100 by the kernel's ABI).
const TICKS_PER_SECOND: u64 = 100;

fn tick_time(n: u64) -> Duration {
    Duration::from_millis(n * 1000 / TICKS_PER_SECOND)
}

impl CpuMeter {
    fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            start: cpu_sample(server_pid),
        }
    }

    /// The share (0..=1) of all CPU time that other processes used since `start`.
    fn others_share(&self) -> Option<f64> {
        let (a, b) = (self.start?, cpu_sample(self.server_pid)?);
        let total = b.total.checked_sub(a.total).filter(|t| *t > 0)?;
        let ours = (b.harness + b.server).saturating_sub(a.harness + a.server);
        let others = b.busy.saturating_sub(a.busy).saturating_sub(ours);
        Some((others as f64 / total as f64).min(1.0))
    }

    /// The CPU time used since `start`, by the harness, the server and everything else.
    fn used(&self) -> Option<CpuUse> {
        let (a, b) = (self.start?, cpu_sample(self.server_pid)?);
        let harness = b.harness.saturating_sub(a.harness);
        let server = b.server.saturating_sub(a.server);
        let busy = b.busy.saturating_sub(a.busy);
        Some(CpuUse {
            harness: tick_time(harness),
            server: tick_time(server),
            others: tick_time(busy.saturating_sub(harness + server)),
        })
    }
}

fn cpu_sample(server_pid: Option<u32>) -> Option<CpuSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8) // user nice system idle iowait irq softirq steal
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = ticks.iter().sum();
    // idle and iowait; and steal, the hypervisor's time for other guests, is no process's here
    let not_busy = ticks.get(3)? + ticks.get(4)? + ticks.get(7).copied().unwrap_or(0);
    let server = match server_pid {
        Some(pid) => process_ticks(&pid.to_string())?,
        None => 0,
    };
    Some(CpuSample {
        busy: total.saturating_sub(not_busy),
        total,
        harness: process_ticks("self")?,
        server,
    })
}

/// utime + stime of a process, all threads included.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the fields after "(comm)": state is the first, utime the 12th and stime the 13th
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

fn noise_text(share: Option<f64>) -> String {
    format!("other processes: {} of the CPU", percent(share))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
    )
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut t = Tally::default();
        t.latencies
            .insert(200, (1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(t.percentile(200, 0.50), Some(Duration::from_millis(50)));
        assert_eq!(t.percentile(200, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(t.percentile(200, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(t.percentile(503, 0.5), None);
        assert_eq!(t.others(&[200]), "none");
    }

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

    #[test]
    fn totp_codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1: T = 59 s is step 1, code 94287082 (6 digits: 287082)
        let key = decode_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(key, b"12345678901234567890");
        assert_eq!(
            decode_secret("gezdgnbvgy3tqojq====").unwrap(),
            b"1234567890"
        );
        assert_eq!(totp_code(&key, 1), "287082");
        assert!(decode_secret("not base32!").is_err());
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string(r#"a\b"c"#), r#""a\\b\"c""#);
    }
}
