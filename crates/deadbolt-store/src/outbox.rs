//! The durable outbox: messages accepted for delivery, claimed by workers under a lease.

use crate::db::{Dialect, Row, Stmt};
use crate::{params, parse_uuid, Result, Store};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::MessageId;
use time::OffsetDateTime;

#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: MessageId,
    /// `email`, `sms` or `voice`.
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
    /// Leases up to `limit` due messages to the claim `claim` (a token unique to this call)
    /// until `lease_until`. A message whose lease ran out (its worker died or stalled) is due
    /// again. On PostgreSQL, `SKIP LOCKED` lets instances claim disjoint sets without waiting on
    /// each other.
    pub async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
        claim: &str,
    ) -> Result<Vec<OutboxMessage>> {
        let sql = match self.db.dialect() {
            Dialect::Sqlite => {
                "UPDATE outbox SET lease_until = $2, claim = $4 WHERE id IN (\
                   SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at LIMIT $3) \
                 RETURNING id, channel, recipient, subject, body_text, body_html, attempts, created_at"
            }
            Dialect::Postgres => {
                "UPDATE outbox SET lease_until = $2, claim = $4 WHERE id IN (\
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
                params![
                    to_millis(now),
                    to_millis(lease_until),
                    i64::from(limit),
                    claim
                ],
            )
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Extends the lease of every message `claim` still holds (not yet recorded, not taken over
    /// by another worker) to `lease_until`; returns how many it holds.
    pub async fn renew_outbox_claim(
        &self,
        claim: &str,
        lease_until: OffsetDateTime,
    ) -> Result<u64> {
        self.db
            .execute(
                "UPDATE outbox SET lease_until = $2 WHERE claim = $1 AND status = 'pending'",
                params![claim, to_millis(lease_until)],
            )
            .await
    }

    /// The provider acknowledged the message: never send it again, and drop its body. Recorded
    /// whoever holds the message now, since it is a fact about the provider: a worker that took
    /// the message over after this one's lease ran out then finds it sent. False when it was
    /// no longer pending (another worker recorded it first).
    pub async fn outbox_sent(&self, id: MessageId, now: OffsetDateTime) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, lease_until = NULL, \
                 claim = NULL, body_text = NULL, body_html = NULL, last_error = NULL \
                 WHERE id = $1 AND status = 'pending'",
                params![id.to_string(), to_millis(now)],
            )
            .await?;
        Ok(changed == 1)
    }

    /// A try failed: retry at `next_attempt_at`, or give up (`dead`) after too many tries. Only
    /// while `claim` still holds the message: a worker whose lease ran out must not reschedule a
    /// message another worker has taken over, and perhaps delivered, since. False when it did not.
    pub async fn outbox_failed(
        &self,
        id: MessageId,
        claim: &str,
        next_attempt_at: OffsetDateTime,
        error: &str,
        dead: bool,
    ) -> Result<bool> {
        let changed = self
            .db
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $3, lease_until = NULL, claim = NULL, \
                 last_error = $4, status = CASE WHEN $5 THEN 'dead' ELSE 'pending' END \
                 WHERE id = $1 AND claim = $2 AND status = 'pending'",
                params![id.to_string(), claim, to_millis(next_attempt_at), error, dead],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Makes every message of `channel` that waits for a retry due at `now`: the provider it
    /// could not reach answers again, and the backoff (up to `[delivery] max_delay_seconds`)
    /// would otherwise keep them waiting long after it came back. Returns how many.
    pub async fn outbox_retry_now(&self, channel: &str, now: OffsetDateTime) -> Result<u64> {
        self.db
            .execute(
                "UPDATE outbox SET next_attempt_at = $2 \
                 WHERE status = 'pending' AND next_attempt_at > $2 AND channel = $1",
                params![channel, to_millis(now)],
            )
            .await
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
