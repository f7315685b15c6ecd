//! The open loop of a storm: requests arrive at a fixed rate whatever the server does, as a
//! crowd's would, so that overload really happens (a closed loop slows down with the server
//! and never overloads it). The harness keeps at most `max_in_flight` requests open, each on a
//! connection of its own slot; arrivals finding no free slot are shed by the harness and
//! counted, since the server is then answering slower than they arrive.
//!
//! One connection per slot, not one shared pool: a pooled client opens a new connection for a
//! request that finds none idle and keeps connecting after another one frees up, so against a
//! server whose listen queue is full (past `max_connections`) thousands of connection attempts
//! piled up in the harness until it ran out of file descriptors.

use crate::tally::{send, Answer, Tally};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A storm's requests are given this long; longer is an error (a request must not hang).
const STORM_TIMEOUT: Duration = Duration::from_secs(30);

/// The i-th request of a storm.
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;

pub struct StormOutcome {
    pub tally: Tally,
    /// Arrivals sent, and those the harness shed (too many in flight).
    pub sent: u64,
    pub shed: u64,
    /// From the first arrival to the last one's departure.
    pub sending: Duration,
    /// From the first arrival to the last answer.
    pub elapsed: Duration,
}

/// `rate` arrivals a second for `duration`, numbered from `first` (so that successive loops use
/// fresh emails and addresses).
pub async fn open_loop(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    first: u64,
    make: MakeRequest,
) -> Result<StormOutcome> {
    let (free, mut slots) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..max_in_flight {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(STORM_TIMEOUT)
            .build()
            .context("building the storm's HTTP clients")?;
        let _ = free.send(client);
    }
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let (answers, mut collected) = tokio::sync::mpsc::unbounded_channel();
    let collector = tokio::spawn(async move {
        let mut tally = Tally::default();
        while let Some((answer, latency)) = collected.recv().await {
            tally.record(answer, latency);
        }
        tally
    });
    let start = Instant::now();
    let (mut i, mut shed) = (0u64, 0u64);
    while i < total {
        // every arrival due by now leaves now: the timer's millisecond cannot pace thousands
        // a second one by one
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while i < due {
            let n = first + i;
            i += 1;
            let Ok(client) = slots.try_recv() else {
                shed += 1;
                continue;
            };
            let (request, answers, free) = (make(&client, n), answers.clone(), free.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                let answer: Result<Answer, reqwest::Error> = send(request).await;
                let _ = answers.send((answer, sent.elapsed()));
                let _ = free.send(client);
            });
        }
        let next = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(next.max(Instant::now() + Duration::from_micros(500)).into())
            .await;
    }
    let sending = start.elapsed();
    // the slots are given back as their requests end; the answers channel closes with the last
    drop((answers, free));
    let tally = collector.await.context("the storm's collector")?;
    Ok(StormOutcome {
        tally,
        sent: total - shed,
        shed,
        sending,
        elapsed: start.elapsed(),
    })
}

/// The client address of the n-th request, out of `addresses` in 10.0.0.0/8 (sent as
/// X-Forwarded-For): a crowd, each member under the per-address limits.
pub fn address(n: u64, addresses: u32) -> String {
    let k = (n % u64::from(addresses.clamp(1, 1 << 24))) as u32;
    let [_, b, c, d] = k.to_be_bytes();
    format!("10.{b}.{c}.{d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_cycle_within_ten_slash_eight() {
        assert_eq!(address(0, 65_536), "10.0.0.0");
        assert_eq!(address(257, 65_536), "10.0.1.1");
        assert_eq!(address(65_536, 65_536), "10.0.0.0");
        assert_eq!(address(5, 1), "10.0.0.0");
    }
}
