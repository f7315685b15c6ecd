//! API keys, by keyed hash.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, ApiKeyId};
use time::OffsetDateTime;

#[derive(Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    /// The first characters of the key, kept in the clear.
    pub shown: String,
    pub key_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// The hashing key `key_hash` was made with: it is kept while this key is live.
    pub hash_key_id: Option<String>,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "id, account_id, name, shown, key_hash, created_at, last_used_at, revoked_at, hash_key_id";

fn key_from_row(r: &Row) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: ApiKeyId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        name: r.text(2)?,
        shown: r.text(3)?,
        key_hash: r.bytes(4)?,
        created_at: from_millis(r.int(5)?),
        last_used_at: r.opt_int(6)?.map(from_millis),
        revoked_at: r.opt_int(7)?.map(from_millis),
        hash_key_id: r.opt_text(8)?,
    })
}

impl ApiKeyRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO api_keys (id, account_id, name, shown, key_hash, created_at, hash_key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![
                self.id.to_string(),
                self.account_id.to_string(),
                self.name.as_str(),
                self.shown.as_str(),
                self.key_hash.clone(),
                to_millis(self.created_at),
                self.hash_key_id.clone(),
            ],
        ))
    }

    /// Revokes every live key of the account (a password reset: whoever had the account may have
    /// made some).
    pub fn revoke_all(account: AccountId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "UPDATE api_keys SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
            params![account.to_string(), to_millis(now)],
        ))
    }

    /// Revokes an account's live key: a guard (nothing to revoke is nothing changed).
    pub fn revoke(account: AccountId, id: ApiKeyId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
            params![id.to_string(), account.to_string(), to_millis(now)],
        ))
    }
}

impl Store {
    /// The account's live keys, newest first.
    pub async fn api_keys_of(&self, account: AccountId) -> Result<Vec<ApiKeyRecord>> {
        const SQL: &str = "SELECT id, account_id, name, shown, key_hash, created_at, last_used_at, revoked_at, hash_key_id \
                           FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self.db.query(SQL, params![account.to_string()]).await?;
        rows.iter().map(key_from_row).collect()
    }

    /// The key with this hash, revoked or not.
    pub async fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKeyRecord>> {
        const SQL: &str =
            "SELECT id, account_id, name, shown, key_hash, created_at, last_used_at, revoked_at, hash_key_id \
                           FROM api_keys WHERE key_hash = $1";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self.db.query(SQL, params![hash.to_vec()]).await?;
        rows.first().map(key_from_row).transpose()
    }

    /// Notes a use of the key, at most once a minute (introspection is a hot path).
    pub async fn api_key_used(&self, id: ApiKeyId, now: OffsetDateTime) -> Result<()> {
        self.db
            .execute(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                params![id.to_string(), to_millis(now), to_millis(now - time::Duration::MINUTE)],
            )
            .await
            .map(|_| ())
    }

    /// Stores the key's hash anew under the live hashing key `key_id`, once it was found under
    /// a retired one: the retired key need not be kept for it any longer.
    pub async fn api_key_rehashed(&self, id: ApiKeyId, hash: &[u8], key_id: &str) -> Result<()> {
        self.db
            .execute(
                "UPDATE api_keys SET key_hash = $2, hash_key_id = $3 WHERE id = $1",
                params![id.to_string(), hash.to_vec(), key_id],
            )
            .await
            .map(|_| ())
    }
}
