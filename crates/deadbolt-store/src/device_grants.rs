//! Device sign-in requests (RFC 8628): each found by the keyed hash of its device code (the
//! device's polls) or of its user code (the device page).

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::device_grant::DeviceState;
use deadbolt_core::ids::{AccountId, SessionId};
use time::{Duration, OffsetDateTime};

/// A device's request for a sign-in.
#[derive(Debug, Clone)]
pub struct DeviceAuthorizationRecord {
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_id: String,
    pub scope: String,
    pub state: DeviceState,
    /// The least time between the device's polls; grows with each `slow_down`.
    pub interval: Duration,
    pub last_polled_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The device that asked: its address, program and approximate place.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub place: Option<String>,
    /// Who answered it, once it was answered.
    pub decision: Option<DeviceDecision>,
}

/// A person's answer, and for an approval the sign-in it was given under.
#[derive(Debug, Clone)]
pub struct DeviceDecision {
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub acr: String,
    pub decided_at: OffsetDateTime,
}

impl DeviceAuthorizationRecord {
    /// Stores a new request: a guard, failing when its user code is already taken (the caller
    /// draws another).
    pub fn insert(&self) -> Write {
        Write::new(Stmt::guard(
            "INSERT INTO device_authorizations (device_code_hash, user_code_hash, client_id, scope, state, \
             interval_seconds, created_at, expires_at, ip, user_agent, place) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            params![
                self.device_code_hash.clone(),
                self.user_code_hash.clone(),
                self.client_id.as_str(),
                self.scope.as_str(),
                self.state.as_str(),
                self.interval.whole_seconds(),
                to_millis(self.created_at),
                to_millis(self.expires_at),
                self.ip.clone(),
                self.user_agent.clone(),
                self.place.clone(),
            ],
        ))
    }

    /// Records a poll, and the interval from now on.
    pub fn polled(device_code_hash: &[u8], interval: Duration, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "UPDATE device_authorizations SET last_polled_at = $2, interval_seconds = $3 \
             WHERE device_code_hash = $1",
            params![
                device_code_hash.to_vec(),
                to_millis(now),
                interval.whole_seconds()
            ],
        ))
    }

    /// Records a person's answer: a guard, so that a request is answered once, and only while
    /// it waits and has time left.
    pub fn decide(
        user_code_hash: &[u8],
        state: DeviceState,
        d: &DeviceDecision,
        now: OffsetDateTime,
    ) -> Write {
        Write::new(Stmt::guard(
            "UPDATE device_authorizations SET state = $2, account_id = $3, session_id = $4, auth_time = $5, \
             amr = $6, acr = $7, decided_at = $8 \
             WHERE user_code_hash = $1 AND state = 'pending' AND expires_at > $9",
            params![
                user_code_hash.to_vec(),
                state.as_str(),
                d.account_id.to_string(),
                d.session_id.to_string(),
                to_millis(d.auth_time),
                d.amr.join(" "),
                d.acr.as_str(),
                to_millis(d.decided_at),
                to_millis(now),
            ],
        ))
    }

    /// Hands an approved request's tokens out: a guard, so that of two polls racing one alone
    /// is given them.
    pub fn spend(device_code_hash: &[u8]) -> Write {
        Write::new(Stmt::guard(
            "UPDATE device_authorizations SET state = 'used' \
             WHERE device_code_hash = $1 AND state = 'approved'",
            params![device_code_hash.to_vec()],
        ))
    }

    /// Marks a request that ran out of time unanswered: a guard, so that its end is recorded
    /// once.
    pub fn note_expired(device_code_hash: &[u8], now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE device_authorizations SET state = 'expired' \
             WHERE device_code_hash = $1 AND state = 'pending' AND expires_at <= $2",
            params![device_code_hash.to_vec(), to_millis(now)],
        ))
    }
}

const COLUMNS: &str = "device_code_hash, user_code_hash, client_id, scope, state, interval_seconds, \
     last_polled_at, created_at, expires_at, ip, user_agent, place, account_id, session_id, auth_time, \
     amr, acr, decided_at";

fn from_row(r: &Row) -> Result<DeviceAuthorizationRecord> {
    let state_name = r.text(4)?;
    let state = DeviceState::parse(&state_name).ok_or_else(|| {
        crate::StoreError::Corrupt(format!("device authorization state {state_name:?}"))
    })?;
    let decision = match r.opt_text(12)? {
        None => None,
        Some(account) => Some(DeviceDecision {
            account_id: AccountId(parse_uuid(&account)?),
            session_id: SessionId(parse_uuid(&r.text(13)?)?),
            auth_time: from_millis(r.int(14)?),
            amr: r.text(15)?.split_whitespace().map(str::to_owned).collect(),
            acr: r.text(16)?,
            decided_at: from_millis(r.int(17)?),
        }),
    };
    Ok(DeviceAuthorizationRecord {
        device_code_hash: r.bytes(0)?,
        user_code_hash: r.bytes(1)?,
        client_id: r.text(2)?,
        scope: r.text(3)?,
        state,
        interval: Duration::seconds(r.int(5)?),
        last_polled_at: r.opt_int(6)?.map(from_millis),
        created_at: from_millis(r.int(7)?),
        expires_at: from_millis(r.int(8)?),
        ip: r.opt_text(9)?,
        user_agent: r.opt_text(10)?,
        place: r.opt_text(11)?,
        decision,
    })
}

impl Store {
    /// The request a device polls with this device code's hash.
    pub async fn device_authorization(
        &self,
        device_code_hash: &[u8],
    ) -> Result<Option<DeviceAuthorizationRecord>> {
        const SQL: &str = "SELECT device_code_hash, user_code_hash, client_id, scope, state, interval_seconds, \
     last_polled_at, created_at, expires_at, ip, user_agent, place, account_id, session_id, auth_time, \
     amr, acr, decided_at FROM device_authorizations WHERE device_code_hash = $1";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self
            .db
            .query(SQL, params![device_code_hash.to_vec()])
            .await?;
        rows.first().map(from_row).transpose()
    }

    /// The request a person typed this user code's hash for.
    pub async fn device_authorization_by_user_code(
        &self,
        user_code_hash: &[u8],
    ) -> Result<Option<DeviceAuthorizationRecord>> {
        const SQL: &str = "SELECT device_code_hash, user_code_hash, client_id, scope, state, interval_seconds, \
     last_polled_at, created_at, expires_at, ip, user_agent, place, account_id, session_id, auth_time, \
     amr, acr, decided_at FROM device_authorizations WHERE user_code_hash = $1";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self.db.query(SQL, params![user_code_hash.to_vec()]).await?;
        rows.first().map(from_row).transpose()
    }

    /// Requests that ran out of time while waiting and whose end is not yet recorded (at most
    /// `limit`, oldest first): their devices stopped polling.
    pub async fn unanswered_device_authorizations(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DeviceAuthorizationRecord>> {
        const SQL: &str = "SELECT device_code_hash, user_code_hash, client_id, scope, state, interval_seconds, \
     last_polled_at, created_at, expires_at, ip, user_agent, place, account_id, session_id, auth_time, \
     amr, acr, decided_at FROM device_authorizations WHERE state = 'pending' AND expires_at <= $1 \
     ORDER BY expires_at LIMIT $2";
        debug_assert!(SQL.contains(COLUMNS));
        let rows = self.db.query(SQL, params![to_millis(now), limit]).await?;
        rows.iter().map(from_row).collect()
    }
}
