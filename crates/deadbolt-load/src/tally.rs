//! What came back from a set of requests: latencies per status, Retry-After headers, transport
//! errors; and the one way requests are sent, so every phase reads answers alike.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// No HTTP timeout shorter than this: a slow answer is a measurement, not an error.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// One client (so one keep-alive connection pool) per worker.
pub fn client(connections: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(HTTP_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

#[derive(Default)]
pub struct Tally {
    pub latencies: BTreeMap<u16, Vec<Duration>>,
    /// Answers with a Retry-After header, per status.
    pub retry_after: BTreeMap<u16, usize>,
    /// Requests that got no HTTP answer.
    pub errors: usize,
    pub first_error: Option<String>,
    /// Answers wrong in a way their status does not say (an authorization answered without a
    /// code, say), per description.
    pub wrong: BTreeMap<String, usize>,
}

impl Tally {
    pub fn record(&mut self, answer: Result<Answer, reqwest::Error>, latency: Duration) {
        match answer {
            Ok(a) => self.record_answer(&a, latency),
            Err(e) => {
                self.errors += 1;
                // reqwest's own text names only the URL; the causes say what went wrong
                self.first_error
                    .get_or_insert_with(|| format!("{:#}", anyhow::Error::from(e)));
            }
        }
    }

    pub fn record_answer(&mut self, a: &Answer, latency: Duration) {
        self.latencies.entry(a.status).or_default().push(latency);
        if a.retry_after {
            *self.retry_after.entry(a.status).or_default() += 1;
        }
    }

    /// An answer wrong in a way its status does not say.
    pub fn record_wrong(&mut self, what: String) {
        *self.wrong.entry(what).or_default() += 1;
    }

    pub fn merge(&mut self, other: Self) {
        for (status, mut l) in other.latencies {
            self.latencies.entry(status).or_default().append(&mut l);
        }
        for (status, n) in other.retry_after {
            *self.retry_after.entry(status).or_default() += n;
        }
        for (what, n) in other.wrong {
            *self.wrong.entry(what).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn count(&self, status: u16) -> usize {
        self.latencies.get(&status).map_or(0, Vec::len)
    }

    /// Answers of `status` that carried Retry-After.
    pub fn with_retry_after(&self, status: u16) -> usize {
        self.retry_after.get(&status).copied().unwrap_or(0)
    }

    /// Nearest-rank percentile of the latencies of one status (`q` in 0..=1).
    pub fn percentile(&self, status: u16, q: f64) -> Option<Duration> {
        percentile(self.latencies.get(&status)?, q)
    }

    /// The statuses other than `expected`, and transport errors: "none" or "401 x 3, ...".
    pub fn others(&self, expected: &[u16]) -> String {
        let mut parts: Vec<String> = self
            .latencies
            .iter()
            .filter(|(s, _)| !expected.contains(s))
            .map(|(s, l)| format!("{s} x {}", l.len()))
            .collect();
        parts.extend(self.wrong.iter().map(|(what, n)| format!("{what} x {n}")));
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

/// Nearest-rank percentile (`q` in 0..=1) of unsorted latencies; None when there are none.
pub fn percentile(latencies: &[Duration], q: f64) -> Option<Duration> {
    if latencies.is_empty() {
        return None;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

pub struct Answer {
    pub status: u16,
    pub retry_after: bool,
}

/// What one step of a closed loop came to, as its tally records it: a request's answer (or
/// none), or the outcome of several requests in a row.
pub trait Outcome {
    /// Whether the step went wrong without an answer to count (the worker then pauses: no hot
    /// loop against a refusing port).
    fn failed(&self) -> bool;
    fn record(self, tally: &mut Tally, latency: Duration);
}

impl Outcome for Result<Answer, reqwest::Error> {
    fn failed(&self) -> bool {
        self.is_err()
    }

    fn record(self, tally: &mut Tally, latency: Duration) {
        tally.record(self, latency);
    }
}

/// Sends a request and reads the whole answer (so the server's work is all counted).
pub async fn send(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
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
    fn retry_after_is_counted_per_status() {
        let mut a = Tally::default();
        let refusal = Answer {
            status: 503,
            retry_after: true,
        };
        a.record_answer(&refusal, Duration::from_millis(2));
        let mut b = Tally::default();
        b.record_answer(
            &Answer {
                status: 429,
                retry_after: false,
            },
            Duration::from_millis(3),
        );
        b.record_answer(&refusal, Duration::from_millis(4));
        a.merge(b);
        assert_eq!(a.count(503), 2);
        assert_eq!(a.with_retry_after(503), 2);
        assert_eq!(a.with_retry_after(429), 0);
        assert_eq!(a.others(&[503]), "429 x 1");
        let mut c = Tally::default();
        c.record_wrong("no code".to_owned());
        a.merge(c);
        assert_eq!(a.others(&[503]), "429 x 1, no code x 1");
    }
}
