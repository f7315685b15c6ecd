//! Failed-attempt counts per throttle key, shared by every instance.

use crate::db::{BatchOutcome, Dialect, Stmt};
use crate::{params, Result, Store, Write};
use deadbolt_core::clock::to_millis;
use deadbolt_core::throttle::{Attempt, FailureWindow};
use time::OffsetDateTime;

impl Store {
    /// Serialises, until the transaction ends, every transaction that counts failures of `key`.
    /// SQLite needs nothing: it has one writer at a time.
    pub fn lock_bucket(&self, key: &str) -> Option<crate::Write> {
        match self.db.dialect() {
            crate::db::Dialect::Sqlite => None,
            crate::db::Dialect::Postgres => Some(crate::Write::new(crate::db::Stmt::new(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                params![key],
            ))),
        }
    }

    /// Counts one attempt under each key before it is judged, all or none: `Err(i)` when key
    /// `i` already holds its `max`, and then nothing is counted. One transaction; on PostgreSQL
    /// serialised per key (the keys' locks taken in the order given, so callers that reserve
    /// several keys name them in one order), so parallel attempts on any number of instances
    /// never count past the limit. Rows that left the window go at the same time.
    pub async fn reserve(
        &self,
        buckets: &[(&str, Attempt)],
    ) -> Result<std::result::Result<(), usize>> {
        let mut stmts: Vec<Stmt> = buckets
            .iter()
            .filter_map(|(key, _)| self.lock_bucket(key).map(|w| w.stmt))
            .collect();
        let mut guards = Vec::with_capacity(buckets.len());
        for (key, attempt) in buckets {
            stmts.push(Stmt::new(
                "DELETE FROM auth_failures WHERE key = $1 AND at <= $2",
                params![*key, to_millis(attempt.since)],
            ));
            guards.push(stmts.len());
            stmts.push(
                writes::failure_within_limit(key, attempt.at, attempt.since, attempt.max).stmt,
            );
        }
        Ok(match self.db.batch(stmts).await? {
            BatchOutcome::Committed => Ok(()),
            BatchOutcome::GuardFailed(i) => Err(guards.iter().position(|g| *g == i).unwrap_or(0)),
        })
    }

    /// Gives back one attempt counted under `key` at `at` by [`Store::reserve`] (it succeeded,
    /// so it is no failure). Rows of one key and time are alike: any one of them will do.
    pub fn give_back(&self, key: &str, at: OffsetDateTime) -> Write {
        let sql = match self.db.dialect() {
            Dialect::Sqlite => {
                "DELETE FROM auth_failures WHERE rowid IN \
                 (SELECT rowid FROM auth_failures WHERE key = $1 AND at = $2 LIMIT 1)"
            }
            Dialect::Postgres => {
                "DELETE FROM auth_failures WHERE ctid IN \
                 (SELECT ctid FROM auth_failures WHERE key = $1 AND at = $2 LIMIT 1)"
            }
        };
        Write::new(Stmt::new(sql, params![key, to_millis(at)]))
    }

    /// Failures for `key` strictly after `since` (the start of the window).
    pub async fn failure_window(&self, key: &str, since: OffsetDateTime) -> Result<FailureWindow> {
        self.read(reads::failure_window(key, since)).await
    }

    /// Records one failure under each key, pruning rows that left the window.
    pub async fn record_failure(
        &self,
        keys: &[String],
        at: OffsetDateTime,
        prune_before: OffsetDateTime,
    ) -> Result<()> {
        let mut stmts = Vec::with_capacity(keys.len() * 2);
        for k in keys {
            stmts.push(crate::db::Stmt::new(
                "DELETE FROM auth_failures WHERE key = $1 AND at < $2",
                params![k.as_str(), to_millis(prune_before)],
            ));
            stmts.push(crate::db::Stmt::new(
                "INSERT INTO auth_failures (key, at) VALUES ($1, $2)",
                params![k.as_str(), to_millis(at)],
            ));
        }
        self.db.batch(stmts).await.map(|_| ())
    }

    /// Forgets the failures of a key (after a success: the limit counts consecutive failures).
    pub async fn clear_failures(&self, key: &str) -> Result<()> {
        self.db
            .execute("DELETE FROM auth_failures WHERE key = $1", params![key])
            .await
            .map(|_| ())
    }
}

/// Failure-bucket reads for use cases to make with their own.
pub mod reads {
    use crate::read::Read;
    use crate::{params, StoreError};
    use deadbolt_core::clock::{from_millis, to_millis};
    use deadbolt_core::throttle::FailureWindow;
    use time::OffsetDateTime;

    /// Failures for `key` strictly after `since` (the start of the window).
    pub fn failure_window(key: &str, since: OffsetDateTime) -> Read<FailureWindow> {
        Read::new(
            "SELECT COUNT(*), MIN(at) FROM auth_failures WHERE key = $1 AND at > $2",
            params![key, to_millis(since)],
            |rows| {
                let (count, oldest) = match rows.first() {
                    Some(r) => (r.int(0)?, r.opt_int(1)?),
                    None => (0, None),
                };
                Ok::<_, StoreError>(FailureWindow {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    oldest: oldest.map(from_millis),
                })
            },
        )
    }
}

/// Failure-bucket writes for use cases to commit with their own.
pub mod writes {
    use crate::db::Stmt;
    use crate::{params, Write};
    use deadbolt_core::clock::to_millis;
    use time::OffsetDateTime;

    /// Records a failure only while fewer than `max` are counted since `since`: a guard, so the
    /// verdict of an attempt past the limit is never told. (On PostgreSQL, take
    /// [`crate::Store::lock_bucket`] first in the same transaction so concurrent counts queue.)
    pub fn failure_within_limit(
        key: &str,
        at: OffsetDateTime,
        since: OffsetDateTime,
        max: u32,
    ) -> Write {
        Write::new(Stmt::guard(
            "INSERT INTO auth_failures (key, at) SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT) \
             WHERE (SELECT COUNT(*) FROM auth_failures WHERE key = $1 AND at > $3) < $4",
            params![key, to_millis(at), to_millis(since), i64::from(max)],
        ))
    }

    /// Counts one event under `key` (a failure, or anything else counted in a window).
    pub fn count(key: &str, at: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO auth_failures (key, at) VALUES ($1, $2)",
            params![key, to_millis(at)],
        ))
    }

    /// Forgets the failures of a key, in a success's transaction.
    pub fn clear_failures(key: &str) -> Write {
        Write::new(Stmt::new(
            "DELETE FROM auth_failures WHERE key = $1",
            params![key],
        ))
    }
}
