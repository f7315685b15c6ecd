//! Sealed service keys, shared by every instance.

use crate::db::Stmt;
use crate::{params, Result, Store, StoreError};
use deadbolt_core::clock::{from_millis, to_millis};
use time::OffsetDateTime;

#[derive(Clone)]
pub struct KeyRecord {
    /// The key id (`kid` for signing keys).
    pub id: String,
    pub kind: String,
    pub master_key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// When it stopped being the live key of its kind.
    pub retired_at: Option<OffsetDateTime>,
    /// A retired key still verifies (or finds) what it signed (or hashed) before this.
    pub verify_until: Option<OffsetDateTime>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Every key of a kind, live first, then retired ones newest first.
    pub async fn keys(&self, kind: &str) -> Result<Vec<KeyRecord>> {
        let rows = self
            .db
            .query(
                "SELECT id, kind, master_key_id, nonce, ciphertext, created_at, retired_at, verify_until FROM service_keys \
                 WHERE kind = $1 ORDER BY retired_at IS NOT NULL, created_at DESC",
                params![kind],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyRecord {
                    id: r.text(0)?,
                    kind: r.text(1)?,
                    master_key_id: r.text(2)?,
                    nonce: r.bytes(3)?,
                    ciphertext: r.bytes(4)?,
                    created_at: from_millis(r.int(5)?),
                    retired_at: r.opt_int(6)?.map(from_millis),
                    verify_until: r.opt_int(7)?.map(from_millis),
                })
            })
            .collect()
    }

    /// Every service key of every kind (for re-sealing under a new master key).
    pub async fn all_keys(&self) -> Result<Vec<KeyRecord>> {
        let mut out = Vec::new();
        for kind in ["jwt_ed25519", "token_hmac"] {
            out.extend(self.keys(kind).await?);
        }
        Ok(out)
    }

    /// Replaces a sealed service key, if it is still sealed by `old_key` (false otherwise).
    pub async fn reseal_key(
        &self,
        id: &str,
        old_key: &str,
        new_key: &str,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<bool> {
        let n = self
            .db
            .execute(
                "UPDATE service_keys SET master_key_id = $3, nonce = $4, ciphertext = $5 WHERE id = $1 AND master_key_id = $2",
                params![id, old_key, new_key, nonce, ciphertext],
            )
            .await?;
        Ok(n == 1)
    }

    /// Makes `new` the live key of its kind at `now`, and retires the live one: it verifies
    /// until `verify_until`. One transaction, so there is a live key at every moment.
    pub async fn rotate_key(
        &self,
        new: &KeyRecord,
        now: OffsetDateTime,
        verify_until: OffsetDateTime,
    ) -> Result<()> {
        self.db
            .batch(vec![
                Stmt::new(
                    "UPDATE service_keys SET retired_at = $2, verify_until = $3 \
                     WHERE kind = $1 AND retired_at IS NULL",
                    params![new.kind.as_str(), to_millis(now), to_millis(verify_until)],
                ),
                // retired keys ending sooner than planned (a leak) end now, not later
                Stmt::new(
                    "UPDATE service_keys SET verify_until = $2 WHERE kind = $1 AND verify_until > $2",
                    params![new.kind.as_str(), to_millis(verify_until)],
                ),
                insert(new),
            ])
            .await?;
        Ok(())
    }

    /// Inserts a live key unless another instance got there first (false then).
    pub async fn insert_key_if_absent(&self, k: &KeyRecord) -> Result<bool> {
        let s = insert(k);
        match self.db.execute(s.sql, s.params).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn insert(k: &KeyRecord) -> Stmt {
    Stmt::new(
        "INSERT INTO service_keys (id, kind, master_key_id, nonce, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![
            k.id.as_str(),
            k.kind.as_str(),
            k.master_key_id.as_str(),
            k.nonce.clone(),
            k.ciphertext.clone(),
            to_millis(k.created_at),
        ],
    )
}
