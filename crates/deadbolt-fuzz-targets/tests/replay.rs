//! Replays every committed fuzz input, the corpora and the crashes once found, through the
//! fuzz targets on the stable toolchain: a fixed crash that comes back fails the suite.

use deadbolt_fuzz_targets::TARGETS;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fuzz_dir().join(kind).join(target))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn replay(name: &str) {
    let target = TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    let corpus = inputs("corpus", name);
    assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty");
    for file in corpus.iter().chain(&inputs("regressions", name)) {
        let data =
            std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        if std::panic::catch_unwind(|| (target.run)(&data)).is_err() {
            panic!("{} fails target {name}", file.display());
        }
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { replay(stringify!($name)); })*

        #[test]
        fn every_target_is_replayed() {
            let replayed = [$(stringify!($name)),*];
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            assert_eq!(names, replayed);
        }
    };
}

replay_tests!(
    login_body,
    mfa_verify_body,
    step_up_body,
    codes,
    webauthn_registration,
    webauthn_authentication,
    config_toml,
    policy_document,
    pages,
    jwt,
    request_object,
);

/// The request-object target reaches past the signature: its seed verifies.
#[test]
fn request_object_seed_verifies() {
    assert!(deadbolt_fuzz_targets::request_object_seed_verifies());
}

/// The WebAuthn targets reach verification: the sample registration and a signed assertion
/// both verify (a harness mistake would leave every input stopping at the challenge).
#[test]
fn webauthn_samples_verify() {
    assert!(deadbolt_fuzz_targets::webauthn_samples_verify());
}
