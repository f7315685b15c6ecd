//! Security events.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, EventId};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: EventId,
    pub account_id: Option<AccountId>,
    pub kind: EventKind,
    pub at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Event-specific facts; never secrets.
    pub detail: serde_json::Value,
}

/// Where a page of events ends: the (time, id) of its last item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    pub at: OffsetDateTime,
    pub id: EventId,
}

impl EventRecord {
    pub fn write(&self) -> crate::Write {
        crate::Write::new(self.insert())
    }

    pub(crate) fn insert(&self) -> Stmt {
        Stmt::new(
            "INSERT INTO events (id, account_id, kind, at, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![
                self.id.to_string(),
                self.account_id.map(|a| a.to_string()),
                self.kind.as_str(),
                to_millis(self.at),
                self.ip.clone(),
                self.user_agent.clone(),
                self.detail.to_string(),
            ],
        )
    }
}

fn event_from_row(r: &Row) -> Result<EventRecord> {
    let kind = r.text(2)?;
    Ok(EventRecord {
        id: EventId(parse_uuid(&r.text(0)?)?),
        account_id: r
            .opt_text(1)?
            .map(|s| parse_uuid(&s).map(AccountId))
            .transpose()?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
        at: from_millis(r.int(3)?),
        ip: r.opt_text(4)?,
        user_agent: r.opt_text(5)?,
        detail: serde_json::from_str(&r.text(6)?)
            .map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?,
    })
}

impl Store {
    pub async fn record_event(&self, e: EventRecord) -> Result<()> {
        let s = e.insert();
        self.db.execute(s.sql, s.params).await.map(|_| ())
    }

    /// An account's events, newest first, after `cursor` when given.
    pub async fn events_of(
        &self,
        account: AccountId,
        before: Option<EventCursor>,
        limit: u32,
    ) -> Result<Vec<EventRecord>> {
        let (at, id) = before.map_or((i64::MAX, String::new()), |c| {
            (to_millis(c.at), c.id.to_string())
        });
        let rows = self
            .db
            .query(
                "SELECT id, account_id, kind, at, ip, user_agent, detail FROM events \
                 WHERE account_id = $1 AND (at < $2 OR (at = $2 AND id < $3)) \
                 ORDER BY at DESC, id DESC LIMIT $4",
                params![account.to_string(), at, id, i64::from(limit)],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Every account's events, newest first (the administrators' view).
    pub async fn all_events(
        &self,
        before: Option<EventCursor>,
        limit: u32,
    ) -> Result<Vec<EventRecord>> {
        let (at, id) = before.map_or((i64::MAX, String::new()), |c| {
            (to_millis(c.at), c.id.to_string())
        });
        let rows = self
            .db
            .query(
                "SELECT id, account_id, kind, at, ip, user_agent, detail FROM events \
                 WHERE at < $1 OR (at = $1 AND id < $2) ORDER BY at DESC, id DESC LIMIT $3",
                params![at, id, i64::from(limit)],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }
}
