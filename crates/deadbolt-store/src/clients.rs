//! OpenID Connect clients, a confidential one's secret by keyed hash.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::AccountId;
use time::OffsetDateTime;

#[derive(Clone)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// Exactly as registered: they are matched exactly.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    /// `EdDSA` or `RS256`.
    pub id_token_alg: String,
    /// The keyed hash of a confidential client's secret; None for a public client, and for a
    /// deleted one.
    pub secret_hash: Option<Vec<u8>>,
    /// The hashing key `secret_hash` was made with.
    pub hash_key_id: Option<String>,
    pub created_at: OffsetDateTime,
    /// The administrator who registered it; None for an operator at the machine.
    pub created_by: Option<AccountId>,
    pub secret_rotated_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
    /// The public keys (a JWKS, as JSON) it signs request objects with; None: it signs none.
    pub jwks: Option<String>,
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("public", &self.public)
            .field("deleted_at", &self.deleted_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "client_id, name, redirect_uris, post_logout_redirect_uris, public, first_party, grants, scopes, \
     id_token_alg, secret_hash, hash_key_id, created_at, created_by, secret_rotated_at, deleted_at, jwks";

fn list_to_text(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn list_from_text(raw: &str) -> Result<Vec<String>> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("bad client list: {e}")))
}

fn client_from_row(r: &Row) -> Result<ClientRecord> {
    Ok(ClientRecord {
        client_id: r.text(0)?,
        name: r.text(1)?,
        redirect_uris: list_from_text(&r.text(2)?)?,
        post_logout_redirect_uris: list_from_text(&r.text(3)?)?,
        public: r.bool(4)?,
        first_party: r.bool(5)?,
        grants: list_from_text(&r.text(6)?)?,
        scopes: list_from_text(&r.text(7)?)?,
        id_token_alg: r.text(8)?,
        secret_hash: r.opt_bytes(9)?,
        hash_key_id: r.opt_text(10)?,
        created_at: from_millis(r.int(11)?),
        created_by: r
            .opt_text(12)?
            .map(|s| parse_uuid(&s).map(AccountId))
            .transpose()?,
        secret_rotated_at: r.opt_int(13)?.map(from_millis),
        deleted_at: r.opt_int(14)?.map(from_millis),
        jwks: r.opt_text(15)?,
    })
}

impl ClientRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO oidc_clients (client_id, name, redirect_uris, post_logout_redirect_uris, public, \
             first_party, grants, scopes, id_token_alg, secret_hash, hash_key_id, created_at, created_by, jwks) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            params![
                self.client_id.as_str(),
                self.name.as_str(),
                list_to_text(&self.redirect_uris),
                list_to_text(&self.post_logout_redirect_uris),
                self.public,
                self.first_party,
                list_to_text(&self.grants),
                list_to_text(&self.scopes),
                self.id_token_alg.as_str(),
                self.secret_hash.clone(),
                self.hash_key_id.clone(),
                to_millis(self.created_at),
                self.created_by.map(|a| a.to_string()),
                self.jwks.clone(),
            ],
        ))
    }

    /// Replaces the keys a live confidential client signs request objects with: a guard.
    pub fn set_keys(client_id: &str, jwks: Option<&str>) -> Write {
        Write::new(Stmt::guard(
            "UPDATE oidc_clients SET jwks = $2 WHERE client_id = $1 AND deleted_at IS NULL AND public = FALSE",
            params![client_id, jwks],
        ))
    }

    /// Replaces a live confidential client's secret hash: a guard (a public, deleted or unknown
    /// client changes nothing). The old secret stops working when this commits.
    pub fn rotate_secret(
        client_id: &str,
        hash: Vec<u8>,
        key_id: &str,
        now: OffsetDateTime,
    ) -> Write {
        Write::new(Stmt::guard(
            "UPDATE oidc_clients SET secret_hash = $2, hash_key_id = $3, secret_rotated_at = $4 \
             WHERE client_id = $1 AND deleted_at IS NULL AND public = FALSE",
            params![client_id, hash, key_id, to_millis(now)],
        ))
    }

    /// Deletes a live client: a guard. The row stays, without its secret hash, so that its id
    /// is never given out or accepted again.
    pub fn delete(client_id: &str, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE oidc_clients SET deleted_at = $2, secret_hash = NULL, hash_key_id = NULL \
             WHERE client_id = $1 AND deleted_at IS NULL",
            params![client_id, to_millis(now)],
        ))
    }
}

impl Store {
    /// Every live client, oldest first.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>> {
        const SQL: &str = "SELECT client_id, name, redirect_uris, post_logout_redirect_uris, public, first_party, grants, scopes, \
     id_token_alg, secret_hash, hash_key_id, created_at, created_by, secret_rotated_at, deleted_at, jwks \
             FROM oidc_clients WHERE deleted_at IS NULL ORDER BY created_at, client_id";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self.db.query(SQL, params![]).await?;
        rows.iter().map(client_from_row).collect()
    }

    /// The live client with this id (a deleted one is never found).
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        const SQL: &str = "SELECT client_id, name, redirect_uris, post_logout_redirect_uris, public, first_party, grants, scopes, \
     id_token_alg, secret_hash, hash_key_id, created_at, created_by, secret_rotated_at, deleted_at, jwks \
             FROM oidc_clients WHERE client_id = $1 AND deleted_at IS NULL";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self.db.query(SQL, params![client_id]).await?;
        rows.first().map(client_from_row).transpose()
    }
}
