//! `deadbolt-load`: the HTTP load harness. Every rate it prints is a ratio to a ceiling
//! measured in the same run on the same machine, so figures compare across machines and runs;
//! a target is reported met or MISSED, never asserted (speed is measured, not tested).
//!
//! The default mode runs the measuring phases (`phases`), on a server with the default costs:
//! - `GET /healthz`, a no-op endpoint: the ceiling of the HTTP stack and the harness;
//! - password logins, as a fraction of the Argon2 bound (`ceilings`: the verification rate of
//!   as many threads as there are cores with the server's parameters; a login costs one
//!   verification, so no server on this machine can beat it); target 0.90;
//! - a burst of logins at once: past the hash pool's bound the server must answer 503 within
//!   milliseconds instead of queueing;
//! - authenticated reads (`GET /v1/me`), target 0.30 of `/healthz`, and token refreshes (each
//!   worker chaining its own refresh-token family), measured against `/healthz`;
//! - OpenID Connect round trips from browsers already signed in (`GET /oauth2/authorize` with
//!   the session cookie, then `POST /oauth2/token` with PKCE and the client's secret), against
//!   `/healthz` and half of it; a wrong answer fails the run, speed never does;
//!
//! then, on a second server with cheap Argon2 (its setup enrols thousands of accounts):
//! - the second step of a login, `POST /v1/login/mfa/verify` with TOTP, as a fraction of that
//!   server's `/healthz` (targets 0.10 on SQLite, 0.05 on PostgreSQL);
//! - a whole sign-in with TOTP (password, then code) as one flow, against both its ceilings:
//!   the Argon2 bound of that server's costs and half its `/healthz` rate (two requests).
//!
//! `deadbolt-load overload` (`overload`) drives storms at twice the capacity measured just
//! before each (logins; sign-ups and passkey starts from many addresses), open loop, and
//! judges the refusals, the server's memory and its first logins afterwards.
//!
//! ```text
//! cargo build --release -p deadbolt -p deadbolt-load
//! target/release/deadbolt-load [--url URL] [--seconds N] [--concurrency C] [--mfa-accounts N]
//! target/release/deadbolt-load overload [--storm-seconds N] [--storms login,signup,passkey]
//! ```
//!
//! Without `--url` it starts `deadbolt serve` (the binary next to this one, `spawn`) on a free
//! loopback port with a fresh SQLite database in a temporary directory (`--database-url` points
//! it at PostgreSQL instead), and stops it at the end. Each closed-loop phase runs one second of
//! warm-up, then counts the requests that complete within the next N seconds. With `--url` the
//! MFA phases are skipped unless `--mfa-on-url` says that server is configured like the
//! harness's MFA server (cheap `[password]` costs, `[mfa]` TOTP defaults: SHA-1, 6 digits,
//! 30 s, skew 1, and mail written to files under `--mail-dir`, where the setup reads each
//! account's code); the ratios are then taken against the `/healthz` rate measured on that
//! server in the same run.

mod api;
mod ceilings;
mod cli;
mod cpu;
mod drive;
mod memory;
mod overload;
mod phases;
mod report;
mod spawn;
mod tally;
mod totp;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{Cli, Mode};

/// The server's allocator (see `deadbolt`'s `main.rs`), so that the Argon2 bound measured here
/// is the server's own ceiling: with glibc's malloc each 19 MiB hash block is mapped and
/// unmapped anew, and the server, reusing its blocks, outran a bound measured that way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    cli.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The spawned servers share this directory: the master key (on PostgreSQL they share the
    // database too, whose signing keys it seals), configs, logs and SQLite files.
    let dir = match &cli.common.url {
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
    let outcome = match &cli.mode {
        None => phases::run(&cli, cores, dir.as_deref()).await,
        Some(Mode::Overload(o)) => overload::run(&cli, o, cores, dir.as_deref()).await,
    };
    if let Some(dir) = dir {
        let failed = !matches!(outcome, Ok((_, None)));
        if !failed && !cli.common.keep {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            eprintln!(
                "server files kept in {} (configs, databases, logs)",
                dir.display()
            );
        }
    }
    let (lines, broken) = outcome?;
    println!(
        "\n==== deadbolt-load summary ====\n{}\n===============================",
        lines.join("\n")
    );
    if let Some(broken) = broken {
        bail!(broken);
    }
    Ok(())
}
