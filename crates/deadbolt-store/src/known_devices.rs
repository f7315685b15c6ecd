//! Devices an account has signed in from, so that a sign-in from a new one can be told.

use crate::db::Stmt;
use crate::{params, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::AccountId;
use time::OffsetDateTime;

/// Records a sign-in from a device not seen before (a no-op if a parallel sign-in did).
pub fn add_device(account: AccountId, key: &[u8], now: OffsetDateTime) -> Write {
    Write::new(Stmt::new(
        "INSERT INTO known_devices (account_id, device_key, first_seen_at, last_seen_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (account_id, device_key) DO NOTHING",
        params![account.to_string(), key.to_vec(), to_millis(now)],
    ))
}

/// Moves a known device's last sign-in forward.
pub fn touch_device(account: AccountId, key: &[u8], now: OffsetDateTime) -> Write {
    Write::new(Stmt::new(
        "UPDATE known_devices SET last_seen_at = $3 WHERE account_id = $1 AND device_key = $2",
        params![account.to_string(), key.to_vec(), to_millis(now)],
    ))
}

/// Renames a known device from its key under a retired hashing key to its key under the live
/// one, keeping when it was first seen. A parallel sign-in that already added the new key wins.
pub fn rekey_device(account: AccountId, old: &[u8], new: &[u8], now: OffsetDateTime) -> Vec<Write> {
    vec![
        Write::new(Stmt::new(
            "INSERT INTO known_devices (account_id, device_key, first_seen_at, last_seen_at) \
             SELECT account_id, $3, first_seen_at, $4 FROM known_devices WHERE account_id = $1 AND device_key = $2 \
             ON CONFLICT (account_id, device_key) DO NOTHING",
            params![account.to_string(), old.to_vec(), new.to_vec(), to_millis(now)],
        )),
        Write::new(Stmt::new(
            "DELETE FROM known_devices WHERE account_id = $1 AND device_key = $2",
            params![account.to_string(), old.to_vec()],
        )),
    ]
}

impl Store {
    /// When the device `key` (a keyed hash; never the raw User-Agent) last signed in to the
    /// account, if ever.
    pub async fn device_last_seen(
        &self,
        account: AccountId,
        key: &[u8],
    ) -> Result<Option<OffsetDateTime>> {
        self.read(device_reads::last_seen(account, key)).await
    }

    /// How many devices the account has signed in from.
    pub async fn device_count(&self, account: AccountId) -> Result<i64> {
        let rows = self
            .db
            .query(
                "SELECT COUNT(*) FROM known_devices WHERE account_id = $1",
                params![account.to_string()],
            )
            .await?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    }
}

/// Device reads for use cases to make with others.
pub mod device_reads {
    use super::*;
    use crate::read::Read;

    /// When the device `key` (a keyed hash; never the raw User-Agent) last signed in to the
    /// account, if ever.
    pub fn last_seen(account: AccountId, key: &[u8]) -> Read<Option<OffsetDateTime>> {
        Read::new(
            "SELECT last_seen_at FROM known_devices WHERE account_id = $1 AND device_key = $2",
            params![account.to_string(), key.to_vec()],
            |rows| rows.first().map(|r| r.int(0).map(from_millis)).transpose(),
        )
    }
}
