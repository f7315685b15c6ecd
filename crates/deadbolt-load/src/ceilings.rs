//! The ceilings every rate is divided by, measured in the same run on the same machine, so that
//! ratios compare across machines and runs: the Argon2 bound (the most password verifications
//! the machine's cores can do, hence the most logins a server could answer) and the `/healthz`
//! rate (the most requests the server's HTTP stack and the harness can exchange).

use crate::cli::Common;
use crate::cpu::CpuMeter;
use crate::drive::closed_loop;
use crate::report::{ms, noise_text};
use crate::tally::Tally;
use anyhow::{ensure, Context, Result};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default workers of the /healthz phase, and of the phases whose ratio is taken to it.
/// What the bound's threads verify: any password costs the same.
const BOUND_PASSWORD: &[u8] = b"correct horse battery staple 42";

pub const HEALTHZ_WORKERS: usize = 32;

/// Argon2id costs: the server's defaults (OWASP: m = 19 MiB, t = 2, p = 1), or the MFA
/// server's cheap ones.
#[derive(Clone, Copy, Debug)]
pub struct Argon2Costs {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

pub const SERVER_DEFAULT_COSTS: Argon2Costs = Argon2Costs {
    m_kib: 19 * 1024,
    t: 2,
    p: 1,
};

impl std::fmt::Display for Argon2Costs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m={}KiB,t={},p={}", self.m_kib, self.t, self.p)
    }
}

/// A /healthz measurement.
pub struct Healthz {
    pub rate: f64,
    pub tally: Tally,
    pub workers: usize,
    pub noise: Option<f64>,
}

/// The no-op endpoint, closed loop, for --seconds after the warm-up.
pub async fn healthz_phase(
    args: &Common,
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

pub struct Bound {
    pub rate: f64,
    /// Share of the machine's CPU other processes took meanwhile.
    pub noise: Option<f64>,
}

/// Measures the Argon2 bound with every core, while the server is idle.
pub async fn bound_phase(
    cores: usize,
    seconds: u64,
    server_pid: Option<u32>,
    costs: Argon2Costs,
) -> Result<Bound> {
    println!("[argon2] {cores} threads verifying {costs} for {seconds} s ...");
    let cpu = CpuMeter::start(server_pid);
    let duration = Duration::from_secs(seconds);
    let rate = tokio::task::spawn_blocking(move || argon2_bound(cores, duration, costs))
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
fn argon2_bound(threads: usize, duration: Duration, costs: Argon2Costs) -> Result<f64> {
    let params = Params::new(costs.m_kib, costs.t, costs.p, None)
        .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    let blocks = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = *b"deadbolt-load-01";
    let mut expected = [0u8; 32];
    argon
        .hash_password_into(BOUND_PASSWORD, &salt, &mut expected)
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
                                BOUND_PASSWORD,
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
