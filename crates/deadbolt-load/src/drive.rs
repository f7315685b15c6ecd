//! How requests are driven: closed loops (each worker sends its next request when the last is
//! answered, so the rate measured is the server's), a fixed list of jobs done once each, and
//! parallel setup. The open loop of the overload storms lives with them (`overload::storm`).

use crate::tally::{client, send, Answer, Outcome, Tally};
use anyhow::{Context, Result};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests that complete during this first part of a phase are not counted.
pub const WARMUP: Duration = Duration::from_secs(1);

pub type Request = Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>;

/// `workers` workers each send one request after another. Requests that complete during the
/// warm-up or after `window` are not counted; requests in flight when the window closes keep
/// the server busy until then, so the counted rate is the steady state.
pub async fn closed_loop(workers: usize, window: Duration, request: Request) -> Result<Tally> {
    closed_loop_with(vec![(); workers], window, move |client, ()| {
        let request = request(&client);
        async move { ((), send(request).await) }
    })
    .await
}

/// A closed loop whose workers carry state from one request to the next (a refresh token that
/// rotates, say): one worker per element of `states`; `step` sends one request (or a round trip
/// of several, timed as one) and gives the state back for the next.
pub async fn closed_loop_with<S, O, F, Fut>(
    states: Vec<S>,
    window: Duration,
    step: F,
) -> Result<Tally>
where
    S: Send + 'static,
    O: Outcome + Send + 'static,
    F: Fn(reqwest::Client, S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (S, O)> + Send + 'static,
{
    let window_start = Instant::now() + WARMUP;
    let window_end = window_start + window;
    let step = Arc::new(step);
    let mut handles = Vec::with_capacity(states.len());
    for state in states {
        let (client, step) = (client(1)?, step.clone());
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut state = state;
            while Instant::now() < window_end {
                let sent = Instant::now();
                let (next, answer) = step(client.clone(), state).await;
                state = next;
                let done = Instant::now();
                let failed = answer.failed();
                if done >= window_start && done <= window_end {
                    answer.record(&mut tally, done - sent);
                }
                if failed {
                    // no hot loop against a refusing port
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for h in handles {
        total.merge(h.await.context("a worker failed")?);
    }
    Ok(total)
}

/// Every job done once, by `workers` workers each on a connection opened (by `GET /healthz`)
/// beforehand, so that the time measured is the server's, not TCP handshakes'. `job` returns
/// the answer that decides the job (its last request, or the first that failed). Returns the
/// tally (latency: the whole job) and the time from the release of the workers (the first
/// request) to the last answer.
pub async fn each_once<J, F, Fut>(
    base: &str,
    jobs: Vec<J>,
    workers: usize,
    job: F,
) -> Result<(Tally, Duration)>
where
    J: Send + Sync + 'static,
    F: Fn(reqwest::Client, Arc<Vec<J>>, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Result<Answer, reqwest::Error>>> + Send + 'static,
{
    let jobs = Arc::new(jobs);
    let workers = workers.clamp(1, jobs.len().max(1));
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let healthz = Arc::new(format!("{base}/healthz"));
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = client(1)?;
        let (jobs, job, next, barrier, healthz) = (
            jobs.clone(),
            job.clone(),
            next.clone(),
            barrier.clone(),
            healthz.clone(),
        );
        handles.push(tokio::spawn(async move {
            // opens the connection; a failure here shows in the timed requests
            let _ = send(client.get(healthz.as_str())).await;
            barrier.wait().await;
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() {
                    break;
                }
                let sent = Instant::now();
                let answer = job(client.clone(), jobs.clone(), i).await?;
                tally.record(answer, sent.elapsed());
            }
            Ok::<_, anyhow::Error>(tally)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut total = Tally::default();
    for h in handles {
        total.merge(h.await.context("a worker panicked")??);
    }
    Ok((total, start.elapsed()))
}

/// `f(client, i)` for i in 0..n, `tasks` at a time (each task with its own connection); the
/// results in order of i. The first error stops the hand-out of further items.
pub async fn in_parallel<T, F, Fut>(n: usize, tasks: usize, f: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks.clamp(1, n.max(1)) {
        let (f, next, client) = (f.clone(), next.clone(), client(1)?);
        handles.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok(done);
                }
                match f(client.clone(), i).await {
                    Ok(t) => done.push((i, t)),
                    Err(e) => {
                        next.store(n, Ordering::Relaxed);
                        return Err(e.context(format!("item {i}")));
                    }
                }
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    let mut first_error = None;
    for h in handles {
        match h.await.context("a setup task panicked")? {
            Ok(done) => all.extend(done),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}
