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
    pub retired_at: Option<OffsetDateTime>,
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
                "SELECT id, kind, master_key_id, nonce, ciphertext, created_at, retired_at FROM service_keys \
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

    /// Inserts a live key unless another instance got there first (false then).
    pub async fn insert_key_if_absent(&self, k: &KeyRecord) -> Result<bool> {
        let s = Stmt::new(
            "INSERT INTO service_keys (id, kind, master_key_id, nonce, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                k.id.as_str(),
                k.kind.as_str(),
                k.master_key_id.as_str(),
                k.nonce.clone(),
                k.ciphertext.clone(),
                to_millis(k.created_at),
            ],
        );
        match self.db.execute(s.sql, s.params).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
