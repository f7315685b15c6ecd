//! WebAuthn: each account's user handle, its registered credentials, and the ceremonies in
//! progress.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, MethodId};
use time::OffsetDateTime;

/// A registered credential. Nothing here is secret (a public key and counters), but the
/// opaque states are left out of `Debug` to keep logs short.
#[derive(Clone)]
pub struct WebauthnCredentialRecord {
    pub method_id: MethodId,
    pub account_id: AccountId,
    pub credential_id: Vec<u8>,
    pub static_state: Vec<u8>,
    pub dynamic_state: Vec<u8>,
    pub sign_count: u32,
    pub aaguid: String,
    pub attestation: String,
    pub transports: u8,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub discoverable: Option<bool>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for WebauthnCredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebauthnCredentialRecord")
            .field("method_id", &self.method_id)
            .field("account_id", &self.account_id)
            .field("aaguid", &self.aaguid)
            .field("sign_count", &self.sign_count)
            .finish_non_exhaustive()
    }
}

impl WebauthnCredentialRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO webauthn_credentials (method_id, account_id, credential_id, static_state, dynamic_state, \
             sign_count, aaguid, attestation, transports, backup_eligible, backed_up, discoverable, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            params![
                self.method_id.to_string(),
                self.account_id.to_string(),
                self.credential_id.clone(),
                self.static_state.clone(),
                self.dynamic_state.clone(),
                i64::from(self.sign_count),
                self.aaguid.as_str(),
                self.attestation.as_str(),
                i64::from(self.transports),
                self.backup_eligible,
                self.backed_up,
                self.discoverable,
                to_millis(self.created_at),
            ],
        ))
    }

    /// Records what an accepted assertion changed: a guard on the counter this check read, so
    /// of two racing assertions with the same counter one wins.
    pub fn used(
        &self,
        dynamic_state: Vec<u8>,
        sign_count: u32,
        backed_up: bool,
        now: OffsetDateTime,
    ) -> Write {
        Write::new(Stmt::guard(
            "UPDATE webauthn_credentials SET dynamic_state = $2, sign_count = $3, backed_up = $4, last_used_at = $5 \
             WHERE method_id = $1 AND sign_count = $6",
            params![
                self.method_id.to_string(),
                dynamic_state,
                i64::from(sign_count),
                backed_up,
                to_millis(now),
                i64::from(self.sign_count),
            ],
        ))
    }
}

/// A WebAuthn ceremony in progress.
#[derive(Clone)]
pub struct CeremonyRecord {
    pub id: uuid::Uuid,
    /// The challenge, hex.
    pub challenge: String,
    /// `register`, `second_factor` or `passkey`.
    pub kind: String,
    pub account_id: Option<AccountId>,
    pub method_id: Option<MethodId>,
    /// The login, step-up or reset challenge this second-factor ceremony serves.
    pub challenge_hash: Option<Vec<u8>>,
    pub state: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub consumed_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for CeremonyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CeremonyRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl CeremonyRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO webauthn_ceremonies (id, challenge, kind, account_id, method_id, challenge_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            params![
                self.id.to_string(),
                self.challenge.as_str(),
                self.kind.as_str(),
                self.account_id.map(|a| a.to_string()),
                self.method_id.map(|m| m.to_string()),
                self.challenge_hash.clone(),
                self.state.clone(),
                to_millis(self.created_at),
                to_millis(self.expires_at),
            ],
        ))
    }

    /// Spends the ceremony: a guard, so a challenge answers one credential, even when raced.
    pub fn consume(&self, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE webauthn_ceremonies SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
            params![self.id.to_string(), to_millis(now)],
        ))
    }

    /// Spends the ceremony after a failed try (not a guard): one credential per challenge.
    pub fn spoil(&self, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "UPDATE webauthn_ceremonies SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL",
            params![self.id.to_string(), to_millis(now)],
        ))
    }
}

const CREDENTIAL_COLUMNS: &str = "SELECT method_id, account_id, credential_id, static_state, dynamic_state, sign_count, aaguid, \
     attestation, transports, backup_eligible, backed_up, discoverable, created_at, last_used_at FROM webauthn_credentials";

fn credential_from_row(r: &Row) -> Result<WebauthnCredentialRecord> {
    Ok(WebauthnCredentialRecord {
        method_id: MethodId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        credential_id: r.bytes(2)?,
        static_state: r.bytes(3)?,
        dynamic_state: r.bytes(4)?,
        sign_count: u32::try_from(r.int(5)?)
            .map_err(|_| StoreError::Corrupt("webauthn sign_count".into()))?,
        aaguid: r.text(6)?,
        attestation: r.text(7)?,
        transports: u8::try_from(r.int(8)?)
            .map_err(|_| StoreError::Corrupt("webauthn transports".into()))?,
        backup_eligible: r.bool(9)?,
        backed_up: r.bool(10)?,
        discoverable: r.opt_int(11)?.map(|v| v != 0),
        created_at: from_millis(r.int(12)?),
        last_used_at: r.opt_int(13)?.map(from_millis),
    })
}

const CEREMONY_COLUMNS: &str = "SELECT id, challenge, kind, account_id, method_id, challenge_hash, state, created_at, expires_at, consumed_at \
     FROM webauthn_ceremonies";

fn ceremony_from_row(r: &Row) -> Result<CeremonyRecord> {
    Ok(CeremonyRecord {
        id: parse_uuid(&r.text(0)?)?,
        challenge: r.text(1)?,
        kind: r.text(2)?,
        account_id: r
            .opt_text(3)?
            .map(|s| parse_uuid(&s).map(AccountId))
            .transpose()?,
        method_id: r
            .opt_text(4)?
            .map(|s| parse_uuid(&s).map(MethodId))
            .transpose()?,
        challenge_hash: match r.0.get(5) {
            Some(crate::db::Value::Null) | None => None,
            Some(_) => Some(r.bytes(5)?),
        },
        state: r.bytes(6)?,
        created_at: from_millis(r.int(7)?),
        expires_at: from_millis(r.int(8)?),
        consumed_at: r.opt_int(9)?.map(from_millis),
    })
}

impl Store {
    /// The account's WebAuthn user handle, made (from `fresh`) the first time it is asked for.
    /// Two racing first calls agree: the second insert does nothing and both read the first.
    pub async fn webauthn_user_handle(
        &self,
        account: AccountId,
        fresh: Vec<u8>,
    ) -> Result<Vec<u8>> {
        self.db
            .execute(
                "INSERT INTO webauthn_users (account_id, user_handle) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING",
                params![account.to_string(), fresh],
            )
            .await?;
        let rows = self
            .db
            .query(
                "SELECT user_handle FROM webauthn_users WHERE account_id = $1",
                params![account.to_string()],
            )
            .await?;
        rows.first()
            .map(|r| r.bytes(0))
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("webauthn user handle vanished".into()))
    }

    /// The account a user handle belongs to.
    pub async fn account_by_user_handle(&self, handle: &[u8]) -> Result<Option<AccountId>> {
        let rows = self
            .db
            .query(
                "SELECT account_id FROM webauthn_users WHERE user_handle = $1",
                params![handle.to_vec()],
            )
            .await?;
        rows.first()
            .map(|r| Ok(AccountId(parse_uuid(&r.text(0)?)?)))
            .transpose()
    }

    pub async fn webauthn_credentials_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<WebauthnCredentialRecord>> {
        const SQL: &str = "SELECT method_id, account_id, credential_id, static_state, dynamic_state, sign_count, aaguid, \
             attestation, transports, backup_eligible, backed_up, discoverable, created_at, last_used_at FROM webauthn_credentials \
             WHERE account_id = $1 ORDER BY created_at, method_id";
        debug_assert!(SQL.starts_with(CREDENTIAL_COLUMNS));
        let rows = self.db.query(SQL, params![account.to_string()]).await?;
        rows.iter().map(credential_from_row).collect()
    }

    pub async fn webauthn_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnCredentialRecord>> {
        const SQL: &str = "SELECT method_id, account_id, credential_id, static_state, dynamic_state, sign_count, aaguid, \
             attestation, transports, backup_eligible, backed_up, discoverable, created_at, last_used_at FROM webauthn_credentials \
             WHERE credential_id = $1";
        debug_assert!(SQL.starts_with(CREDENTIAL_COLUMNS));
        let rows = self.db.query(SQL, params![credential_id.to_vec()]).await?;
        rows.first().map(credential_from_row).transpose()
    }

    pub async fn ceremony_by_challenge(&self, challenge: &str) -> Result<Option<CeremonyRecord>> {
        const SQL: &str = "SELECT id, challenge, kind, account_id, method_id, challenge_hash, state, created_at, expires_at, consumed_at \
             FROM webauthn_ceremonies WHERE challenge = $1";
        debug_assert!(SQL.starts_with(CEREMONY_COLUMNS));
        let rows = self.db.query(SQL, params![challenge]).await?;
        rows.first().map(ceremony_from_row).transpose()
    }

    pub async fn ceremony(&self, id: uuid::Uuid) -> Result<Option<CeremonyRecord>> {
        const SQL: &str = "SELECT id, challenge, kind, account_id, method_id, challenge_hash, state, created_at, expires_at, consumed_at \
             FROM webauthn_ceremonies WHERE id = $1";
        debug_assert!(SQL.starts_with(CEREMONY_COLUMNS));
        let rows = self.db.query(SQL, params![id.to_string()]).await?;
        rows.first().map(ceremony_from_row).transpose()
    }
}
