//! The core's primitives: Argon2id hash and verify with the default (OWASP) parameters, which
//! bound password logins, and the cheap keyed hashes and codes every other request uses.
//!
//! `cargo bench -p deadbolt-core --bench primitives` (about 20 s; Argon2 is sampled flat, ten
//! samples, so the slow functions do not dominate the run).

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use deadbolt_core::password::{PasswordHasher, PasswordParams};
use deadbolt_core::random::Random;
use deadbolt_core::secret::Secret;
use deadbolt_core::token::TokenHasher;
use rand_core::RngCore;
use std::hint::black_box;
use std::time::Duration;

/// The operating system's CSPRNG, as the server uses it (the core holds no global generator).
struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand_core::OsRng.fill_bytes(buf);
    }
}

type BenchResult = Result<(), Box<dyn std::error::Error>>;

fn argon2(c: &mut Criterion) -> BenchResult {
    let rng = OsRandom;
    let params = PasswordParams::default();
    let hasher = PasswordHasher::new(params, &rng).map_err(|e| format!("argon2 params: {e}"))?;
    let password = Secret::new("correct horse battery staple 42");
    let stored = hasher
        .hash(&password, &rng)
        .map_err(|e| format!("argon2 hash: {e}"))?;
    if !hasher.verify(&password, Some(&stored)) {
        return Err("a fresh hash does not verify".into());
    }
    let label = format!(
        "m={}KiB,t={},p={}",
        params.memory_kib, params.iterations, params.parallelism
    );

    let mut group = c.benchmark_group("argon2id");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("hash", &label), |b| {
        b.iter(|| hasher.hash(black_box(&password), &rng));
    });
    group.bench_function(BenchmarkId::new("verify", &label), |b| {
        b.iter(|| hasher.verify(black_box(&password), Some(&stored)));
    });
    // An unknown email verifies against the dummy hash: it must cost the same as a real one.
    group.bench_function(BenchmarkId::new("verify_unknown_account", &label), |b| {
        b.iter(|| hasher.verify(black_box(&password), None));
    });
    group.finish();
    Ok(())
}

fn cheap(c: &mut Criterion) {
    let rng = OsRandom;
    let hasher = TokenHasher::new([7u8; 32]);
    let token = deadbolt_core::token::generate("dbr_", &rng);

    let mut group = c.benchmark_group("cheap");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    group.bench_function("token_hasher/hash_token", |b| {
        b.iter(|| hasher.hash_token(black_box(&token)));
    });
    group.bench_function("token/generate", |b| {
        b.iter(|| deadbolt_core::token::generate(black_box("dbr_"), &rng));
    });
    group.bench_function("code/generate", |b| {
        b.iter(|| deadbolt_core::code::generate(&rng));
    });
    group.finish();
}

fn main() -> BenchResult {
    let mut c = Criterion::default().configure_from_args();
    argon2(&mut c)?;
    cheap(&mut c);
    c.final_summary();
    Ok(())
}
