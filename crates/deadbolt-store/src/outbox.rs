//! The durable outbox: messages accepted for delivery, claimed by workers under a lease.

use crate::db::{Dialect, Row, Stmt};
use crate::{params, parse_uuid, Result, Store};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::MessageId;
use time::OffsetDateTime;

#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: MessageId,
    /// `email` (SMS, voice and webhook come later).
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    /// Wiped once delivered; may carry a one-time code until then.
    pub body_text: String,
    pub body_html: Option<String>,
    pub attempts: u32,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // bodies carry codes: never in logs
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl OutboxMessage {
    pub fn write(&self) -> crate::Write {
        crate::Write(self.insert())
    }

    pub(crate) fn insert(&self) -> Stmt {
        Stmt::new(
            "INSERT INTO outbox (id, channel, recipient, subject, body_text, body_html, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
            params![
                self.id.to_string(),
                self.channel.as_str(),
                self.recipient.as_str(),
                self.subject.as_str(),
                self.body_text.as_str(),
                self.body_html.clone(),
                to_millis(self.created_at),
            ],
        )
    }
}

fn message_from_row(r: &Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: MessageId(parse_uuid(&r.text(0)?)?),
        channel: r.text(1)?,
        recipient: r.text(2)?,
        subject: r.text(3)?,
        body_text: r.opt_text(4)?.unwrap_or_default(),
        body_html: r.opt_text(5)?,
        attempts: u32::try_from(r.int(6)?).unwrap_or(u32::MAX),
        created_at: from_millis(r.int(7)?),
    })
}

impl Store {
    /// Leases up to `limit` due messages to the caller until `lease_until`. A message whose lease
    /// ran out (its worker died) is due again. On PostgreSQL, `SKIP LOCKED` lets instances claim
    /// disjoint sets without waiting on each other.
    pub async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let sql = match self.db.dialect() {
            Dialect::Sqlite => {
                "UPDATE outbox SET lease_until = $2 WHERE id IN (\
                   SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at LIMIT $3) \
                 RETURNING id, channel, recipient, subject, body_text, body_html, attempts, created_at"
            }
            Dialect::Postgres => {
                "UPDATE outbox SET lease_until = $2 WHERE id IN (\
                   SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at LIMIT $3 \
                   FOR UPDATE SKIP LOCKED) \
                 RETURNING id, channel, recipient, subject, body_text, body_html, attempts, created_at"
            }
        };
        let rows = self
            .db
            .query(
                sql,
                params![to_millis(now), to_millis(lease_until), i64::from(limit)],
            )
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The provider acknowledged the message: never send it again, and drop its body.
    pub async fn outbox_sent(&self, id: MessageId, now: OffsetDateTime) -> Result<()> {
        self.db
            .execute(
                "UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, lease_until = NULL, \
                 body_text = NULL, body_html = NULL, last_error = NULL WHERE id = $1",
                params![id.to_string(), to_millis(now)],
            )
            .await
            .map(|_| ())
    }

    /// A try failed: retry at `next_attempt_at`, or give up (`dead`) after too many tries.
    pub async fn outbox_failed(
        &self,
        id: MessageId,
        next_attempt_at: OffsetDateTime,
        error: &str,
        dead: bool,
    ) -> Result<()> {
        self.db
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, lease_until = NULL, \
                 last_error = $3, status = CASE WHEN $4 THEN 'dead' ELSE 'pending' END WHERE id = $1",
                params![id.to_string(), to_millis(next_attempt_at), error, dead],
            )
            .await
            .map(|_| ())
    }
}

/// A message the worker gave up on, as an operator sees it (never its body).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: MessageId,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Store {
    /// Dead messages, newest first, created before `before` (a cursor), at most `limit`.
    pub async fn dead_letters(
        &self,
        before: Option<(OffsetDateTime, MessageId)>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>> {
        let (at, id) = before.map_or((i64::MAX, String::new()), |(at, id)| {
            (to_millis(at), id.to_string())
        });
        let rows = self
            .db
            .query(
                "SELECT id, channel, recipient, subject, attempts, last_error, created_at FROM outbox \
                 WHERE status = 'dead' AND (created_at < $1 OR (created_at = $1 AND id < $2)) \
                 ORDER BY created_at DESC, id DESC LIMIT $3",
                params![at, id, i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: MessageId(parse_uuid(&r.text(0)?)?),
                    channel: r.text(1)?,
                    recipient: r.text(2)?,
                    subject: r.text(3)?,
                    attempts: u32::try_from(r.int(4)?).unwrap_or(u32::MAX),
                    last_error: r.opt_text(5)?,
                    created_at: from_millis(r.int(6)?),
                })
            })
            .collect()
    }

    /// Gives a dead message another round of tries. False when it is not dead (or not there).
    pub async fn retry_dead_letter(&self, id: MessageId, now: OffsetDateTime) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_until = NULL \
                 WHERE id = $1 AND status = 'dead'",
                params![id.to_string(), to_millis(now)],
            )
            .await?;
        Ok(changed == 1)
    }
}
