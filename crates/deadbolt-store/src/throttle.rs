//! Failed-attempt counts per throttle key, shared by every instance.

use crate::{params, Result, Store};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::throttle::FailureWindow;
use time::OffsetDateTime;

impl Store {
    /// Failures for `key` strictly after `since` (the start of the window).
    pub async fn failure_window(&self, key: &str, since: OffsetDateTime) -> Result<FailureWindow> {
        let rows = self
            .db
            .query(
                "SELECT COUNT(*), MIN(at) FROM auth_failures WHERE key = $1 AND at > $2",
                params![key, to_millis(since)],
            )
            .await?;
        let (count, oldest) = match rows.first() {
            Some(r) => (r.int(0)?, r.opt_int(1)?),
            None => (0, None),
        };
        Ok(FailureWindow {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: oldest.map(from_millis),
        })
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

/// Writes for use cases that reserve an attempt before checking it.
pub mod writes {
    use crate::db::Stmt;
    use crate::{params, Write};
    use deadbolt_core::clock::to_millis;
    use time::OffsetDateTime;

    /// Counts an attempt as a failure before it is checked; a success clears the key.
    pub fn reserve_failure(key: &str, at: OffsetDateTime) -> Write {
        Write(Stmt::new(
            "INSERT INTO auth_failures (key, at) VALUES ($1, $2)",
            params![key, to_millis(at)],
        ))
    }

    /// Gives back an attempt reserved at `at` (one refused before it was checked).
    pub fn release_failure(key: &str, at: OffsetDateTime) -> Write {
        Write(Stmt::new(
            "DELETE FROM auth_failures WHERE key = $1 AND at = $2",
            params![key, to_millis(at)],
        ))
    }

    /// Forgets the failures of a key, in a success's transaction.
    pub fn clear_failures(key: &str) -> Write {
        Write(Stmt::new(
            "DELETE FROM auth_failures WHERE key = $1",
            params![key],
        ))
    }
}
