//! `[password]`: Argon2id costs, strength rules, and the threads that hash.

use crate::Config;
use deadbolt_core::password::PasswordParams;
use serde::{Deserialize, Serialize};

/// Argon2id costs and strength rules (defaults: OWASP's m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub min_length: usize,
    /// zxcvbn score (0..=4) a new password must reach.
    pub min_score: u8,
    /// Threads that run Argon2 (0: one per core).
    pub hash_threads: usize,
    /// Hashes allowed to wait for a thread before the server answers 503 (0: 4 per thread).
    pub hash_queue: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        let p = PasswordParams::default();
        Self {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
            min_length: p.min_length,
            min_score: p.min_score,
            hash_threads: 0,
            hash_queue: 0,
        }
    }
}

impl PasswordConfig {
    pub fn params(&self) -> PasswordParams {
        PasswordParams {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
            min_length: self.min_length,
            min_score: self.min_score,
        }
    }

    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = self.params().problems();
        if self.hash_threads > 256 {
            out.push(("hash_threads", "must be at most 256".into()));
        }
        if self.hash_queue > 100_000 {
            out.push(("hash_queue", "must be at most 100000".into()));
        }
        out
    }
}

// Methods of `Config` that read only `[password]`, kept beside the keys they read.
impl Config {
    /// Argon2 worker threads: as configured, or one per core.
    pub fn hash_threads(&self) -> usize {
        match self.password.hash_threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    pub fn hash_queue(&self) -> usize {
        match self.password.hash_queue {
            0 => 4 * self.hash_threads(),
            n => n,
        }
    }
}
