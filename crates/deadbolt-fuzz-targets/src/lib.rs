//! The bodies of Deadbolt's fuzz targets. Each takes the fuzzer's bytes to the production code
//! that parses outside input (the same extractors, request types, services and core rules the
//! server runs, never copies of them) and asserts what must hold of every answer: no panic, and
//! where a parse succeeds, that it is stable (normalising twice changes nothing, what
//! serialises parses back the same).
//!
//! `fuzz/fuzz_targets/*.rs` are one-line wrappers for cargo-fuzz (nightly); `tests/replay.rs`
//! runs every file under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through the
//! same functions on the stable toolchain, so a crash once found stays fixed.
//!
//! A panic is how a target reports a failed invariant: that is what the fuzzer and the replay
//! test look for.

mod fixture;
mod forms;
mod input;
mod request_object;
mod tokens;
mod webauthn;

pub use fixture::fixture;

/// A fuzz target: its name (the directory under `fuzz/corpus` and `fuzz/regressions`) and body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "login_body",
        run: input::login_body,
    },
    Target {
        name: "mfa_verify_body",
        run: input::mfa_verify_body,
    },
    Target {
        name: "step_up_body",
        run: input::step_up_body,
    },
    Target {
        name: "codes",
        run: input::codes,
    },
    Target {
        name: "webauthn_registration",
        run: webauthn::registration,
    },
    Target {
        name: "webauthn_authentication",
        run: webauthn::authentication,
    },
    Target {
        name: "config_toml",
        run: tokens::config_toml,
    },
    Target {
        name: "policy_document",
        run: tokens::policy_document,
    },
    Target {
        name: "pages",
        run: forms::pages,
    },
    Target {
        name: "jwt",
        run: tokens::jwt,
    },
    Target {
        name: "request_object",
        run: request_object::request_object,
    },
];

pub use forms::pages;
pub use input::{codes, login_body, mfa_verify_body, step_up_body};
pub use request_object::{request_object, seed_verifies as request_object_seed_verifies};
pub use tokens::{config_toml, jwt, policy_document};
pub use webauthn::samples_verify as webauthn_samples_verify;
pub use webauthn::{
    authentication as webauthn_authentication, registration as webauthn_registration,
};

/// Writes the seed corpora (valid bodies, tokens signed by the fixture's key, a registration and
/// an assertion made by a software authenticator) under `dir/<target>/`.
pub fn write_seeds(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut seeds: Vec<(&str, &str, Vec<u8>)> = Vec::new();
    seeds.extend(input::seeds());
    seeds.extend(webauthn::seeds());
    seeds.extend(tokens::seeds());
    seeds.extend(forms::seeds());
    seeds.extend(request_object::seeds());
    for (target, name, bytes) in seeds {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(name), bytes)?;
    }
    Ok(())
}
