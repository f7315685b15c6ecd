//! A bounded pool for Argon2. Hashing is deliberately slow; if requests arrive faster than the
//! threads can hash, queueing them without limit would only make every login slow. Past the
//! queue's bound the caller is told at once (and answers 503 with Retry-After).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Job = Box<dyn FnOnce() + Send>;

/// The pool is full; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

#[derive(Clone)]
pub struct HashPool {
    /// One permit per job the pool accepts at once: running (one per thread) or waiting.
    slots: Arc<Semaphore>,
    jobs: Sender<Job>,
}

/// A place in the pool, taken before any other work so that a refusal costs nothing.
pub struct Slot {
    permit: OwnedSemaphorePermit,
    jobs: Sender<Job>,
}

impl HashPool {
    /// `threads` hash at once; up to `queue` more wait.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx))?;
        }
        Ok(Self {
            slots: Arc::new(Semaphore::new(threads + queue)),
            jobs: tx,
        })
    }

    /// Takes a place, or refuses at once when every place is taken.
    pub fn reserve(&self) -> Result<Slot, Busy> {
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| Busy)?;
        Ok(Slot {
            permit,
            jobs: self.jobs.clone(),
        })
    }

    /// Runs `f` on a pool thread, or refuses at once when the pool is full.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        self.reserve()?.run(f).await
    }
}

impl Slot {
    /// Runs `f` on a pool thread; the place is given back when it is done.
    pub async fn run<T: Send + 'static>(
        self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let permit = self.permit;
        let job: Job = Box::new(move || {
            let _ = tx.send(span.in_scope(f));
            drop(permit);
        });
        self.jobs.send(job).map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        // the lock is held only while waiting for the next job, never while running one
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the pool was dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_refuses_past_the_bound() {
        let pool = HashPool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || release_rx.recv().ok()).await })
        };
        // let the thread pick the blocking job, then fill the one queue slot
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 1).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run(|| 3).await, Err(Busy), "third job must be refused");
        assert!(pool.reserve().is_err(), "no place to reserve either");
        release_tx.send(()).unwrap();
        assert!(blocker.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap(), Ok(1));
    }
}
