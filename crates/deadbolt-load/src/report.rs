//! How figures are printed: durations, shares of the CPU, verdicts against targets. A target is
//! reported as met or MISSED, never asserted: speed is measured, and a run on a busy machine
//! must not fail for it.

use std::time::Duration;

/// Above this share of the CPU taken by other processes, the summary warns of noise.
pub const NOISE_WARNING: f64 = 0.10;

pub fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
    )
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

pub fn pass(ok: bool) -> &'static str {
    if ok {
        "pass"
    } else {
        "FAIL"
    }
}

pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

pub fn noise_text(share: Option<f64>) -> String {
    format!("other processes: {} of the CPU", percent(share))
}

/// Whether any of the shares is noisy.
pub fn noisy(shares: &[Option<f64>]) -> bool {
    shares.iter().flatten().any(|n| *n > NOISE_WARNING)
}

pub fn noise_warning(noisy: bool) -> &'static str {
    if noisy {
        "  (WARNING: other processes competed for the CPU; figures are noisy)"
    } else {
        ""
    }
}
