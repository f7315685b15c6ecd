//! The command line: options every mode shares (where the server is, how long a phase lasts),
//! those of the measuring phases, and those of the overload storms.

use anyhow::{ensure, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "deadbolt-load",
    version,
    about = "HTTP load harness: a Deadbolt server's throughput as ratios to the same run's \
             ceilings (the Argon2 bound, /healthz), and its behaviour under overload"
)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Option<Mode>,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub phases: PhaseOptions,
}

#[derive(Subcommand, Debug)]
pub enum Mode {
    /// Twice the measured capacity for --storm-seconds (logins, then sign-ups and passkey
    /// starts from many client addresses), then normal traffic: refusals, memory, recovery.
    Overload(OverloadOptions),
}

/// Options of every mode (also accepted after the subcommand).
#[derive(Args, Debug)]
pub struct Common {
    /// Base URL of a running server; without it, the harness starts `deadbolt serve` itself.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Seconds measured per closed-loop phase (after one second of warm-up).
    #[arg(long, default_value_t = 5, global = true)]
    pub seconds: u64,
    /// Concurrent workers (default: 32 for /healthz and the session phases, 2 x cores for
    /// logins).
    #[arg(long, global = true)]
    pub concurrency: Option<usize>,
    /// Concurrent login workers, when they should differ from --concurrency.
    #[arg(long, global = true)]
    pub login_concurrency: Option<usize>,
    /// Seconds spent measuring each Argon2 bound.
    #[arg(long, default_value_t = 3, global = true)]
    pub bound_seconds: u64,
    /// Database for the spawned server (e.g. postgres://...); default: SQLite in a temp dir.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// The `deadbolt` binary to spawn (default: the one next to this executable).
    #[arg(long, global = true)]
    pub server_bin: Option<PathBuf>,
    /// Keep the spawned server's temporary directory (config, database, log).
    #[arg(long, global = true)]
    pub keep: bool,
}

/// Options of the measuring phases (the default mode).
#[derive(Args, Debug)]
pub struct PhaseOptions {
    /// Logins fired at once in the burst phase.
    #[arg(long, default_value_t = 400)]
    pub burst: usize,
    /// MFA phase: accounts enrolled beforehand, one timed verification each (the default keeps
    /// the timed part over a second).
    #[arg(long, default_value_t = 12_000)]
    pub mfa_accounts: usize,
    /// Whole sign-in phase: accounts enrolled beforehand (with the MFA phase's), one timed
    /// password + TOTP sign-in each.
    #[arg(long, default_value_t = 3_000)]
    pub flow_accounts: usize,
    /// MFA phases: concurrent workers (default: as many as the /healthz phase's, so that both
    /// sides of the ratio are driven by the same number of clients).
    #[arg(long)]
    pub mfa_concurrency: Option<usize>,
    /// MFA phases: concurrent tasks setting up accounts.
    #[arg(long, default_value_t = 16)]
    pub mfa_setup_concurrency: usize,
    /// With --url: that server has cheap Argon2 costs, a lockout allowing thousands of accounts
    /// and the [mfa] TOTP defaults, so the MFA phases may run against it.
    #[arg(long, requires = "url")]
    pub mfa_on_url: bool,
    /// With --mfa-on-url: the server's `[email] file_dir`, where the setup reads the codes that
    /// prove each account's address (its `smtp_url` unset).
    #[arg(long, requires = "mfa_on_url")]
    pub mail_dir: Option<PathBuf>,
    /// Only the MFA phases (with their own /healthz measurement).
    #[arg(long, conflicts_with = "skip_mfa")]
    pub mfa_only: bool,
    /// No MFA phases.
    #[arg(long)]
    pub skip_mfa: bool,
    /// No OpenID Connect round trips (authorize with a signed-in browser, then the token).
    #[arg(long)]
    pub skip_oidc: bool,
    /// No polls of waiting devices (the device authorization grant).
    #[arg(long)]
    pub skip_device: bool,
    /// Subjects phase: subjects set up beforehand (TOTP confirmed, a challenge open), one
    /// timed server-API verification each.
    #[arg(long, default_value_t = 3_000)]
    pub subject_checks: usize,
    /// No server-API checks of subjects' second factors.
    #[arg(long)]
    pub skip_subjects: bool,
    /// With --url: a confidential first-party client of that server whose redirect URI is
    /// https://rp.example/cb, as CLIENT_ID:CLIENT_SECRET (`deadbolt clients create --name load
    /// --redirect-uri https://rp.example/cb` prints both). Without it the OpenID Connect phase
    /// is skipped there: the harness registers a client itself only on a server it started.
    #[arg(long, requires = "url", value_name = "ID:SECRET")]
    pub oidc_client: Option<String>,
}

/// Options of `overload`.
#[derive(Args, Debug)]
pub struct OverloadOptions {
    /// Seconds each storm lasts.
    #[arg(long, default_value_t = 60)]
    pub storm_seconds: u64,
    /// A storm's arrival rate as a multiple of the capacity measured just before it.
    #[arg(long, default_value_t = 2.0)]
    pub storm_factor: f64,
    /// Which storms, in order (comma-separated: login, signup, passkey).
    #[arg(long, value_delimiter = ',', default_values_t = [Storm::Login, Storm::Signup, Storm::Passkey])]
    pub storms: Vec<Storm>,
    /// Client addresses the sign-up and passkey storms spread over (sent as X-Forwarded-For,
    /// which the spawned server believes from loopback).
    #[arg(long, default_value_t = 65_536)]
    pub addresses: u32,
    /// Requests the harness keeps in flight at most, each on a connection of its own; arrivals
    /// beyond are counted as shed by the harness (the server is then answering slower than they
    /// arrive). The default stays under the server's `max_connections` (1024), past which
    /// connections wait in its listen queue by design, unserved: the storm is to load the
    /// server's requests, not its connection cap, and leaves room for the normal logins.
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// Normal logins timed before and after each storm.
    #[arg(long, default_value_t = 5)]
    pub probes: usize,
    /// With --url: the server's process id, for its memory (otherwise not reported).
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storm {
    Login,
    Signup,
    Passkey,
}

impl std::fmt::Display for Storm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Login => "login",
            Self::Signup => "signup",
            Self::Passkey => "passkey",
        })
    }
}

impl Cli {
    /// Ranges clap cannot say.
    pub fn check(&self) -> Result<()> {
        let (c, p) = (&self.common, &self.phases);
        ensure!((1..=600).contains(&c.seconds), "--seconds: 1 to 600");
        ensure!(
            (1..=60).contains(&c.bound_seconds),
            "--bound-seconds: 1 to 60"
        );
        for n in [c.concurrency, c.login_concurrency, p.mfa_concurrency]
            .into_iter()
            .flatten()
        {
            ensure!((1..=4096).contains(&n), "concurrency: 1 to 4096");
        }
        ensure!((1..=10_000).contains(&p.burst), "--burst: 1 to 10000");
        for (n, what) in [
            (p.mfa_accounts, "--mfa-accounts"),
            (p.flow_accounts, "--flow-accounts"),
            (p.subject_checks, "--subject-checks"),
        ] {
            ensure!((1..=1_000_000).contains(&n), "{what}: 1 to 1000000");
        }
        ensure!(
            (1..=256).contains(&p.mfa_setup_concurrency),
            "--mfa-setup-concurrency: 1 to 256"
        );
        if let Some(Mode::Overload(o)) = &self.mode {
            ensure!(
                (1..=3600).contains(&o.storm_seconds),
                "--storm-seconds: 1 to 3600"
            );
            ensure!(
                (1.0..=100.0).contains(&o.storm_factor),
                "--storm-factor: 1 to 100"
            );
            ensure!(o.addresses >= 1, "--addresses: at least 1");
            ensure!(
                (1..=60_000).contains(&o.max_in_flight),
                "--max-in-flight: 1 to 60000"
            );
            ensure!((1..=100).contains(&o.probes), "--probes: 1 to 100");
        }
        Ok(())
    }
}
