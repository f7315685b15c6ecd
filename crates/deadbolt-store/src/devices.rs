//! Trusted devices.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, DeviceId};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub account_id: AccountId,
    pub token_hash: Vec<u8>,
    pub user_agent: String,
    pub ip: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl DeviceRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO trusted_devices (id, account_id, token_hash, user_agent, ip, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![
                self.id.to_string(),
                self.account_id.to_string(),
                self.token_hash.clone(),
                self.user_agent.as_str(),
                self.ip.clone(),
                to_millis(self.created_at),
                to_millis(self.expires_at),
            ],
        ))
    }
}

/// Revokes every trusted device of an account (password change, MFA reset).
pub fn revoke_all_devices(account: AccountId, now: OffsetDateTime) -> Write {
    Write::new(Stmt::new(
        "UPDATE trusted_devices SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
        params![account.to_string(), to_millis(now)],
    ))
}

const DEVICE_COLUMNS: &str =
    "id, account_id, token_hash, user_agent, ip, created_at, expires_at, last_used_at, revoked_at";

fn device_from_row(r: &Row) -> Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: DeviceId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        token_hash: r.bytes(2)?,
        user_agent: r.text(3)?,
        ip: r.opt_text(4)?,
        created_at: from_millis(r.int(5)?),
        expires_at: from_millis(r.int(6)?),
        last_used_at: r.opt_int(7)?.map(from_millis),
        revoked_at: r.opt_int(8)?.map(from_millis),
    })
}

impl Store {
    pub async fn device_by_token(&self, token_hash: &[u8]) -> Result<Option<DeviceRecord>> {
        const SQL: &str = "SELECT id, account_id, token_hash, user_agent, ip, created_at, expires_at, last_used_at, revoked_at \
                           FROM trusted_devices WHERE token_hash = $1";
        debug_assert!(SQL.contains(DEVICE_COLUMNS));
        let rows = self.db.query(SQL, params![token_hash.to_vec()]).await?;
        rows.first().map(device_from_row).transpose()
    }

    /// When the last trusted device still live ends, if any does.
    pub async fn latest_device_expiry(&self) -> Result<Option<OffsetDateTime>> {
        let rows = self
            .db
            .query(
                "SELECT MAX(expires_at) FROM trusted_devices WHERE revoked_at IS NULL",
                params![],
            )
            .await?;
        Ok(rows
            .first()
            .map(|r| r.opt_int(0))
            .transpose()?
            .flatten()
            .map(from_millis))
    }

    /// Live (unrevoked, unexpired) devices of an account, newest first.
    pub async fn devices_of(
        &self,
        account: AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<DeviceRecord>> {
        const SQL: &str = "SELECT id, account_id, token_hash, user_agent, ip, created_at, expires_at, last_used_at, revoked_at \
                           FROM trusted_devices WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                           ORDER BY created_at DESC, id";
        let rows = self
            .db
            .query(SQL, params![account.to_string(), to_millis(now)])
            .await?;
        rows.iter().map(device_from_row).collect()
    }

    /// Notes a use of the device, storing its token's hash as the live hashing key makes it
    /// (a token found under a retired key then outlives that key).
    pub async fn device_used(
        &self,
        device: DeviceId,
        now: OffsetDateTime,
        token_hash: &[u8],
    ) -> Result<()> {
        self.db
            .execute(
                "UPDATE trusted_devices SET last_used_at = $2, token_hash = $3 WHERE id = $1",
                params![device.to_string(), to_millis(now), token_hash.to_vec()],
            )
            .await
            .map(|_| ())
    }

    /// Revokes one device of an account; false when there was no such live device.
    pub fn revoke_device(account: AccountId, device: DeviceId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE trusted_devices SET revoked_at = $3 WHERE id = $2 AND account_id = $1 AND revoked_at IS NULL",
            params![account.to_string(), device.to_string(), to_millis(now)],
        ))
    }
}
