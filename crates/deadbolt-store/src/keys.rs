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
        for kind in ["jwt_ed25519", "jwt_rs256", "token_hmac"] {
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

    /// Makes each of `new` the live key of its kind at `now`, and retires the live ones: they
    /// verify until `verify_until`. One transaction, so there is a live key of each kind at
    /// every moment, and keys rotated together (the signing keys) change together.
    pub async fn rotate_keys(
        &self,
        new: &[KeyRecord],
        now: OffsetDateTime,
        verify_until: OffsetDateTime,
    ) -> Result<()> {
        let mut statements = Vec::with_capacity(3 * new.len());
        for k in new {
            statements.extend([
                Stmt::new(
                    "UPDATE service_keys SET retired_at = $2, verify_until = $3 \
                     WHERE kind = $1 AND retired_at IS NULL",
                    params![k.kind.as_str(), to_millis(now), to_millis(verify_until)],
                ),
                // retired keys ending sooner than planned (a leak) end now, not later
                Stmt::new(
                    "UPDATE service_keys SET verify_until = $2 WHERE kind = $1 AND verify_until > $2",
                    params![k.kind.as_str(), to_millis(verify_until)],
                ),
                insert(k),
            ]);
        }
        self.db.batch(statements).await?;
        Ok(())
    }

    /// Makes `new` the live hashing key at `now`. A routine rotation (`verify_until` given)
    /// retires the live key, which still finds what it hashed until then, and after that only
    /// the API keys and recovery codes that name it. A leak (`None`) deletes every older hashing
    /// key, revokes the API keys and spends the recovery codes hashed under them: nothing they
    /// hashed is found again. One transaction, so there is a live key at every moment.
    pub async fn rotate_hashing_key(
        &self,
        new: &KeyRecord,
        now: OffsetDateTime,
        verify_until: Option<OffsetDateTime>,
    ) -> Result<()> {
        let kind = new.kind.as_str();
        let mut statements = match verify_until {
            Some(until) => vec![Stmt::new(
                "UPDATE service_keys SET retired_at = $2, verify_until = $3 \
                 WHERE kind = $1 AND retired_at IS NULL",
                params![kind, to_millis(now), to_millis(until)],
            )],
            None => vec![
                Stmt::new(
                    "UPDATE api_keys SET revoked_at = $2 WHERE revoked_at IS NULL \
                     AND (hash_key_id IS NULL OR hash_key_id IN (SELECT id FROM service_keys WHERE kind = $1))",
                    params![kind, to_millis(now)],
                ),
                Stmt::new(
                    "UPDATE recovery_codes SET used_at = $2 WHERE used_at IS NULL \
                     AND (hash_key_id IS NULL OR hash_key_id IN (SELECT id FROM service_keys WHERE kind = $1))",
                    params![kind, to_millis(now)],
                ),
                // a client secret hashed under a leaked key no longer proves anything: the
                // operator gives the client a new one (`deadbolt clients rotate-secret`)
                Stmt::new(
                    "UPDATE oidc_clients SET secret_hash = NULL, hash_key_id = NULL \
                     WHERE hash_key_id IN (SELECT id FROM service_keys WHERE kind = $1)",
                    params![kind],
                ),
                Stmt::new("DELETE FROM service_keys WHERE kind = $1", params![kind]),
            ],
        };
        statements.push(insert(new));
        self.db.batch(statements).await?;
        Ok(())
    }

    /// What a hashing-key rotation at once would end: live API keys, and accounts with unused
    /// recovery codes, hashed under any hashing key there is now.
    pub async fn hashed_under_hashing_keys(&self) -> Result<(i64, i64)> {
        let count = |sql: &'static str| async move {
            let rows = self.db.query(sql, params![]).await?;
            Ok::<_, StoreError>(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
        };
        let api_keys = count("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL").await?;
        let accounts =
            count("SELECT COUNT(DISTINCT account_id) FROM recovery_codes WHERE used_at IS NULL")
                .await?;
        Ok((api_keys, accounts))
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
