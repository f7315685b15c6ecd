//! The central policy's one row: a JSON document and its version.

use crate::db::Stmt;
use crate::{params, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::AccountId;
use time::OffsetDateTime;

pub struct StoredPolicy {
    /// Moves on by one at every change.
    pub version: i64,
    pub document: String,
    pub updated_at: OffsetDateTime,
    /// The administrator who made the change; None for the seed.
    pub updated_by: Option<String>,
}

impl StoredPolicy {
    /// Replaces version `self.version` with `document`: the write matches nothing (a failed
    /// guard) when another change came first, so no change is lost unseen.
    pub fn replace(&self, document: String, now: OffsetDateTime, by: AccountId) -> Write {
        Write::new(Stmt::guard(
            "UPDATE policy SET version = version + 1, document = $2, updated_at = $3, \
             updated_by = $4 WHERE id = 1 AND version = $1",
            params![self.version, document, to_millis(now), by.to_string()],
        ))
    }
}

impl Store {
    pub async fn policy(&self) -> Result<Option<StoredPolicy>> {
        let rows = self
            .db
            .query(
                "SELECT version, document, updated_at, updated_by FROM policy WHERE id = 1",
                params![],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(StoredPolicy {
                    version: r.int(0)?,
                    document: r.text(1)?,
                    updated_at: from_millis(r.int(2)?),
                    updated_by: r.opt_text(3)?,
                })
            })
            .transpose()
    }

    /// The version in force: a cheap query for instances to notice another's change.
    pub async fn policy_version(&self) -> Result<Option<i64>> {
        let rows = self
            .db
            .query("SELECT version FROM policy WHERE id = 1", params![])
            .await?;
        rows.first().map(|r| r.int(0)).transpose()
    }

    /// Stores `document` as version 1 unless a policy is already stored (by an earlier start
    /// or another instance starting at the same time).
    pub async fn seed_policy(&self, document: &str, now: OffsetDateTime) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO policy (id, version, document, updated_at) VALUES (1, 1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
                params![document, to_millis(now)],
            )
            .await?;
        Ok(())
    }
}
