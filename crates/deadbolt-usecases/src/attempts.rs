//! Attempts counted before they are judged: a password guess or a code is reserved as a
//! failure in the database first (refused once the limit is reached), then checked, and its
//! reservation is given back when it was right. N parallel guesses thus count as N, on every
//! instance at once, and no more than the limit are ever judged.

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use deadbolt_core::throttle::{retry_after_seconds, ThrottlePolicy};
use deadbolt_store::Write;
use time::OffsetDateTime;

/// A throttle key with its policy.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub key: String,
    pub policy: ThrottlePolicy,
}

/// Attempts counted under every bucket of a [`reserve`] call, until given back.
#[derive(Debug)]
#[must_use = "a reservation left alone counts as a failure"]
pub struct Reserved {
    buckets: Vec<Bucket>,
    at: OffsetDateTime,
}

/// A bucket was full: nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// Which of the buckets (their order in the call).
    pub bucket: usize,
    /// Seconds until it opens again.
    pub retry_after: i64,
}

/// Counts one attempt under each bucket, all or none.
pub async fn reserve(ctx: &Context, buckets: Vec<Bucket>) -> DomainResult<Result<Reserved, Full>> {
    let now = ctx.clock.now();
    let attempts: Vec<_> = buckets
        .iter()
        .map(|b| (b.key.as_str(), b.policy.attempt(now)))
        .collect();
    match ctx.store.reserve(&attempts).await? {
        Ok(()) => Ok(Ok(Reserved { buckets, at: now })),
        Err(i) => {
            let Some(full) = buckets.get(i) else {
                return Err(DomainError::Internal(anyhow::anyhow!(
                    "a throttle guard outside its buckets"
                )));
            };
            let seen = ctx
                .store
                .failure_window(&full.key, full.policy.window_start(now))
                .await?;
            Ok(Err(Full {
                bucket: i,
                retry_after: retry_after_seconds(full.policy.wait(seen, now)),
            }))
        }
    }
}

impl Reserved {
    /// The writes that give the attempts back, for a success's own transaction.
    pub fn give_back(&self, ctx: &Context) -> Vec<Write> {
        self.buckets
            .iter()
            .map(|b| ctx.store.give_back(&b.key, self.at))
            .collect()
    }

    /// Gives the attempts back at once: the attempt succeeded.
    pub async fn give_back_now(self, ctx: &Context) -> DomainResult<()> {
        ctx.commit(self.give_back(ctx)).await?;
        Ok(())
    }

    /// The attempt failed: it stays counted.
    pub fn keep(self) {}
}
