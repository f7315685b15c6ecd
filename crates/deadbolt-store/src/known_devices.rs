//! Devices an account has signed in from, so that a sign-in from a new one can be told.

use crate::{params, Result, Store};
use deadbolt_core::clock::to_millis;
use deadbolt_core::ids::AccountId;
use time::OffsetDateTime;

/// What a sign-in's device was to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSeen {
    /// Seen before.
    Known,
    /// Not seen before, and the account had signed in from other devices.
    New,
    /// The account's first device: nothing to compare with.
    First,
}

impl Store {
    /// Records a sign-in from the device `key` (a keyed hash; never the raw User-Agent).
    pub async fn note_device(
        &self,
        account: AccountId,
        key: &[u8],
        now: OffsetDateTime,
    ) -> Result<DeviceSeen> {
        // one statement for the common case, a device seen before
        let rows = self
            .db
            .query(
                "INSERT INTO known_devices (account_id, device_key, first_seen_at, last_seen_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (account_id, device_key) \
                 DO UPDATE SET last_seen_at = excluded.last_seen_at RETURNING first_seen_at",
                params![account.to_string(), key.to_vec(), to_millis(now)],
            )
            .await?;
        let first_seen = rows.first().map(|r| r.int(0)).transpose()?;
        if first_seen != Some(to_millis(now)) {
            return Ok(DeviceSeen::Known);
        }
        let rows = self
            .db
            .query(
                "SELECT COUNT(*) FROM known_devices WHERE account_id = $1",
                params![account.to_string()],
            )
            .await?;
        let count = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        Ok(if count > 1 {
            DeviceSeen::New
        } else {
            DeviceSeen::First
        })
    }
}
