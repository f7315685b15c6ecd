//! A storm judged against the criteria: no crash; every refusal 429 or 503 with
//! Retry-After; refusals answered within milliseconds (p99 under 100 ms); overload shed rather
//! than queued; memory bounded; and the first normal login after the storm at normal latency.
//! Only a crash or a wrong answer fails the run: latencies and memory are measured on a shared
//! machine, so they are reported (pass/FAIL), never asserted.

use super::storm::StormOutcome;
use crate::cli::Storm;
use crate::memory::mib;
use crate::phases::REFUSAL_TARGET;
use crate::report::{ms, pass};
use std::time::Duration;

/// The server's `[server] max_connections` default, and what one connection may hold: a body
/// of up to `max_body_bytes` (64 KiB) and its buffers. With the hash pool's blocks already
/// counted in the peak before the storm (its capacity phase keeps every hash thread busy),
/// what overload may add is bounded by these.
const MAX_CONNECTIONS: u64 = 1024;
const PER_CONNECTION_KIB: u64 = 128;
/// Past this, answers were queued rather than refused.
const QUEUED: Duration = Duration::from_secs(1);
/// "Normal latency" after the storm: within this multiple of the idle server's p50.
const RECOVERY_FACTOR: u32 = 2;

pub struct StormReport {
    pub kind: Storm,
    /// The status of a served request (201 for a sign-up).
    pub success: u16,
    pub capacity: f64,
    pub rate: f64,
    pub outcome: StormOutcome,
    pub rss_before: Option<u64>,
    pub rss_peak_before: Option<u64>,
    pub rss_sampled_peak: Option<u64>,
    pub rss_hwm: Option<u64>,
    pub alive: bool,
    pub healthz: bool,
    pub before_p50: Option<Duration>,
    pub after: Vec<Duration>,
}

impl StormReport {
    fn refused(&self) -> usize {
        self.outcome.tally.count(429) + self.outcome.tally.count(503)
    }

    fn refused_with_retry_after(&self) -> usize {
        self.outcome.tally.with_retry_after(429) + self.outcome.tally.with_retry_after(503)
    }

    /// Latencies of the refusals (429 and 503 together).
    fn refusal(&self, q: f64) -> Option<Duration> {
        let t = &self.outcome.tally.latencies;
        let all: Vec<Duration> = [429, 503]
            .iter()
            .filter_map(|s| t.get(s))
            .flatten()
            .copied()
            .collect();
        crate::tally::percentile(&all, q)
    }

    fn all_answers(&self, q: f64) -> Option<Duration> {
        let all: Vec<Duration> = self
            .outcome
            .tally
            .latencies
            .values()
            .flatten()
            .copied()
            .collect();
        crate::tally::percentile(&all, q)
    }

    /// Successes a second from the first arrival to the last answer: what overload left of the
    /// capacity (a server that sheds keeps it; one that queues may lose it to the queue).
    fn goodput(&self) -> f64 {
        self.outcome.tally.count(self.success) as f64 / self.outcome.elapsed.as_secs_f64()
    }

    fn memory_bound(&self) -> Option<u64> {
        self.rss_peak_before
            .map(|p| p + MAX_CONNECTIONS * PER_CONNECTION_KIB)
    }

    fn unexpected(&self) -> String {
        self.outcome.tally.others(&[self.success, 429, 503])
    }

    /// What broke, if anything did: a crash, or an answer other than success, 429 or 503 with
    /// Retry-After (and requests that got no answer at all).
    pub fn broken(&self) -> Option<String> {
        let mut wrong = Vec::new();
        if !self.alive {
            wrong.push("the server process died".to_owned());
        } else if !self.healthz {
            wrong.push("/healthz did not answer 200 after the storm".to_owned());
        }
        if self.unexpected() != "none" {
            wrong.push(format!("unexpected answers: {}", self.unexpected()));
        }
        if self.refused_with_retry_after() != self.refused() {
            wrong.push(format!(
                "{} of {} refusals without Retry-After",
                self.refused() - self.refused_with_retry_after(),
                self.refused()
            ));
        }
        (!wrong.is_empty()).then(|| format!("{}: {}", self.kind, wrong.join(", ")))
    }

    pub fn progress_line(&self) -> String {
        format!(
            "[{}] {} sent ({} shed by the harness), {} x {}, {} x 429, {} x 503, other: {}; \
             refusals p50 {} p99 {}; RSS peak {}; first login after {}",
            self.kind,
            self.outcome.sent,
            self.outcome.shed,
            self.outcome.tally.count(self.success),
            self.success,
            self.outcome.tally.count(429),
            self.outcome.tally.count(503),
            self.unexpected(),
            ms(self.refusal(0.5)),
            ms(self.refusal(0.99)),
            mib(self.rss_sampled_peak),
            ms(self.after.first().copied()),
        )
    }

    /// The criteria, each with its verdict.
    fn criteria(&self) -> Vec<String> {
        let refused = self.refused();
        let p99 = self.refusal(0.99);
        let refusal_fast = match p99 {
            Some(p) => format!("{} (p99 {})", pass(p < REFUSAL_TARGET), ms(Some(p))),
            None => "n/a (nothing refused)".to_owned(),
        };
        let all_p99 = self.all_answers(0.99);
        let shed = self.outcome.shed == 0 && all_p99.is_some_and(|p| p <= QUEUED);
        let memory = match (self.rss_sampled_peak, self.rss_hwm, self.memory_bound()) {
            (Some(s), Some(h), Some(b)) => format!(
                "{} (sampled peak {}, VmHWM {}; bound {} = peak before {} + {MAX_CONNECTIONS} \
                 connections x {PER_CONNECTION_KIB} KiB)",
                pass(s.max(h) <= b),
                mib(Some(s)),
                mib(Some(h)),
                mib(Some(b)),
                mib(self.rss_peak_before),
            ),
            _ => "n/a (the server's process is not known: --server-pid)".to_owned(),
        };
        let first = self.after.first().copied();
        let recovery = match (first, self.before_p50) {
            (Some(f), Some(b)) => format!(
                "{} (first {}, p50 of {} after {}; idle p50 before {}, limit {RECOVERY_FACTOR}x)",
                pass(f <= b * RECOVERY_FACTOR),
                ms(Some(f)),
                self.after.len(),
                ms(crate::tally::percentile(&self.after, 0.5)),
                ms(Some(b)),
            ),
            _ => "n/a".to_owned(),
        };
        vec![
            format!(
                "  no crash:            {} (process alive: {}, /healthz 200: {})",
                pass(self.alive && self.healthz),
                self.alive,
                self.healthz
            ),
            format!(
                "  refusals 429/503 with Retry-After: {} ({} of {refused}; other answers: {})",
                pass(self.refused_with_retry_after() == refused && self.unexpected() == "none"),
                self.refused_with_retry_after(),
                self.unexpected()
            ),
            format!("  refusal p99 < {}: {refusal_fast}", ms(Some(REFUSAL_TARGET))),
            format!(
                "  shed, not queued:    {} (p99 of all answers {}, limit {}; shed by the harness: {})",
                pass(shed),
                ms(all_p99),
                ms(Some(QUEUED)),
                self.outcome.shed
            ),
            format!("  memory bounded:      {memory}"),
            format!("  login after storm:   {recovery}"),
        ]
    }
}

/// The table of every storm, then each storm's criteria. "asked" is the storm's arrival rate,
/// "sent" what left the harness (arrivals beyond --max-in-flight open requests are "shed"),
/// "served" the successes, "ref." the refusals (429 and 503), "R-After" the refusals with a
/// Retry-After header, "1st login" the first normal login after the storm.
pub fn table(reports: &[StormReport]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<8} {:>9} {:>9} {:>9} {:>8} {:>7} {:>8} {:>7} {:>7} {:>6} {:>9} {:>9} {:>7} {:>10} {:>10}",
        "storm",
        "capacity",
        "asked",
        "sent",
        "sent",
        "shed",
        "served",
        "429",
        "503",
        "other",
        "ref. p50",
        "ref. p99",
        "R-After",
        "RSS peak",
        "1st login"
    )];
    for r in reports {
        let t = &r.outcome.tally;
        let other = t
            .latencies
            .iter()
            .filter(|(s, _)| ![r.success, 429, 503].contains(s));
        let other = other.map(|(_, l)| l.len()).sum::<usize>() + t.errors;
        lines.push(format!(
            "{:<8} {:>7.1}/s {:>7.1}/s {:>7.1}/s {:>8} {:>7} {:>8} {:>7} {:>7} {:>6} {:>9} {:>9} {:>7} {:>10} {:>10}",
            r.kind.to_string(),
            r.capacity,
            r.rate,
            r.outcome.sent as f64 / r.outcome.sending.as_secs_f64(),
            r.outcome.sent,
            r.outcome.shed,
            t.count(r.success),
            t.count(429),
            t.count(503),
            other,
            ms(r.refusal(0.5)),
            ms(r.refusal(0.99)),
            format!("{}/{}", r.refused_with_retry_after(), r.refused()),
            mib(r.rss_sampled_peak.max(r.rss_hwm)),
            ms(r.after.first().copied()),
        ));
    }
    for r in reports {
        lines.push(format!(
            "{}: {:.1}/s asked for ({}x capacity), {:.1}/s sent over {:.1} s, last answer at {:.1} s; \
             served {:.1}/s meanwhile ({:.2} of capacity); RSS before {}",
            r.kind,
            r.rate,
            r.rate / r.capacity,
            r.outcome.sent as f64 / r.outcome.sending.as_secs_f64(),
            r.outcome.sending.as_secs_f64(),
            r.outcome.elapsed.as_secs_f64(),
            r.goodput(),
            r.goodput() / r.capacity,
            mib(r.rss_before),
        ));
        lines.extend(r.criteria());
    }
    lines
}
