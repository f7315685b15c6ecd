//! The durable outbox: messages accepted for delivery, claimed by workers under a lease.

use crate::db::{Dialect, Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::MessageId;
use time::OffsetDateTime;

/// A message as a channel hands it over. Its words may carry a one-time code: the outbox keeps
/// it only as a [`SealedMessage`].
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: MessageId,
    /// `email`, `sms`, `voice` or `push`.
    pub channel: String,
    pub recipient: String,
    pub subject: String,
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

/// A message's words sealed (XChaCha20-Poly1305) under the master key `master_key_id`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBody {
    pub master_key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Seals and opens the words of messages: the service's master keys.
pub trait BodyKeys: Send + Sync {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> std::result::Result<SealedBody, String>;
    fn open(&self, sealed: &SealedBody, aad: &[u8]) -> std::result::Result<Vec<u8>, String>;
}

/// A message as the outbox keeps it: everything a worker needs to route it in the clear, its
/// words sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMessage {
    pub id: MessageId,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    body: StoredBody,
    pub attempts: u32,
    pub created_at: OffsetDateTime,
}

#[derive(Clone, PartialEq, Eq)]
enum StoredBody {
    Sealed(SealedBody),
    /// Written before bodies were sealed; delivered as it is.
    Plain {
        text: String,
        html: Option<String>,
    },
}

impl std::fmt::Debug for SealedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedMessage")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The sealed part of a message: its words.
#[derive(serde::Serialize, serde::Deserialize)]
struct Words {
    text: String,
    html: Option<String>,
}

/// The message id is the associated data: a body moved to another row does not open.
fn body_aad(id: MessageId) -> Vec<u8> {
    format!("outbox:{id}").into_bytes()
}

impl OutboxMessage {
    /// The message as the outbox keeps it, its words sealed with `keys`.
    pub fn seal(&self, keys: &dyn BodyKeys) -> Result<SealedMessage> {
        let words = serde_json::to_vec(&Words {
            text: self.body_text.clone(),
            html: self.body_html.clone(),
        })
        .map_err(|e| StoreError::Corrupt(format!("message body: {e}")))?;
        let sealed = keys
            .seal(&words, &body_aad(self.id))
            .map_err(|e| StoreError::Corrupt(format!("cannot seal a message body: {e}")))?;
        Ok(SealedMessage {
            id: self.id,
            channel: self.channel.clone(),
            recipient: self.recipient.clone(),
            subject: self.subject.clone(),
            body: StoredBody::Sealed(sealed),
            attempts: self.attempts,
            created_at: self.created_at,
        })
    }
}

impl SealedMessage {
    /// The message with its words, to hand to a channel.
    pub fn open(&self, keys: &dyn BodyKeys) -> Result<OutboxMessage> {
        let (text, html) = match &self.body {
            StoredBody::Plain { text, html } => (text.clone(), html.clone()),
            StoredBody::Sealed(sealed) => {
                let words = keys
                    .open(sealed, &body_aad(self.id))
                    .map_err(|e| StoreError::Corrupt(format!("cannot open a message body: {e}")))?;
                let words: Words = serde_json::from_slice(&words)
                    .map_err(|e| StoreError::Corrupt(format!("message body: {e}")))?;
                (words.text, words.html)
            }
        };
        Ok(OutboxMessage {
            id: self.id,
            channel: self.channel.clone(),
            recipient: self.recipient.clone(),
            subject: self.subject.clone(),
            body_text: text,
            body_html: html,
            attempts: self.attempts,
            created_at: self.created_at,
        })
    }

    /// The master key the words are sealed with (none for a plain row).
    pub fn master_key_id(&self) -> Option<&str> {
        match &self.body {
            StoredBody::Sealed(s) => Some(&s.master_key_id),
            StoredBody::Plain { .. } => None,
        }
    }

    pub fn write(&self) -> crate::Write {
        crate::Write::queuing_message(self.insert())
    }

    pub(crate) fn insert(&self) -> Stmt {
        let (text, html, key_id, nonce, sealed) = match &self.body {
            StoredBody::Sealed(s) => (
                None,
                None,
                Some(s.master_key_id.clone()),
                Some(s.nonce.clone()),
                Some(s.ciphertext.clone()),
            ),
            StoredBody::Plain { text, html } => {
                (Some(text.clone()), html.clone(), None, None, None)
            }
        };
        Stmt::new(
            "INSERT INTO outbox (id, channel, recipient, subject, body_text, body_html, body_key_id, body_nonce, body_sealed, \
             status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)",
            params![
                self.id.to_string(),
                self.channel.as_str(),
                self.recipient.as_str(),
                self.subject.as_str(),
                text,
                html,
                key_id,
                nonce,
                sealed,
                to_millis(self.created_at),
            ],
        )
    }
}

/// A row of `id, channel, recipient, subject, body_text, body_html, attempts, created_at,
/// body_key_id, body_nonce, body_sealed`.
fn message_from_row(r: &Row) -> Result<SealedMessage> {
    let body = match r.opt_text(8)? {
        Some(master_key_id) => StoredBody::Sealed(SealedBody {
            master_key_id,
            nonce: r.bytes(9)?,
            ciphertext: r.bytes(10)?,
        }),
        None => StoredBody::Plain {
            text: r.opt_text(4)?.unwrap_or_default(),
            html: r.opt_text(5)?,
        },
    };
    Ok(SealedMessage {
        id: MessageId(parse_uuid(&r.text(0)?)?),
        channel: r.text(1)?,
        recipient: r.text(2)?,
        subject: r.text(3)?,
        body,
        attempts: u32::try_from(r.int(6)?).unwrap_or(u32::MAX),
        created_at: from_millis(r.int(7)?),
    })
}

impl Store {
    /// The master keys that seal the words of messages still waiting: they must not be pruned.
    pub async fn outbox_master_key_ids(&self) -> Result<Vec<String>> {
        let rows = self
            .db
            .query(
                "SELECT DISTINCT body_key_id FROM outbox WHERE body_key_id IS NOT NULL",
                params![],
            )
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Messages waiting with sealed words (for a master key rotation to seal them again).
    pub async fn sealed_waiting_messages(&self) -> Result<Vec<SealedMessage>> {
        let rows = self
            .db
            .query(
                "SELECT id, channel, recipient, subject, body_text, body_html, attempts, created_at, \
                 body_key_id, body_nonce, body_sealed FROM outbox \
                 WHERE status <> 'sent' AND body_key_id IS NOT NULL",
                params![],
            )
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Replaces `old`'s sealed words with `new`'s, unless they changed meanwhile (delivered and
    /// wiped, or sealed again by another rotation). True when replaced.
    pub async fn reseal_message(&self, old: &SealedMessage, new: &SealedMessage) -> Result<bool> {
        let (StoredBody::Sealed(was), StoredBody::Sealed(now)) = (&old.body, &new.body) else {
            return Ok(false);
        };
        let n = self
            .db
            .execute(
                "UPDATE outbox SET body_key_id = $3, body_nonce = $4, body_sealed = $5 \
                 WHERE id = $1 AND body_key_id = $2",
                params![
                    old.id.to_string(),
                    was.master_key_id.as_str(),
                    now.master_key_id.as_str(),
                    now.nonce.clone(),
                    now.ciphertext.clone()
                ],
            )
            .await?;
        Ok(n == 1)
    }

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
    ) -> Result<Vec<SealedMessage>> {
        let sql = match self.db.dialect() {
            Dialect::Sqlite => {
                "UPDATE outbox SET lease_until = $2, claim = $4 WHERE id IN (\
                   SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at LIMIT $3) \
                 RETURNING id, channel, recipient, subject, body_text, body_html, attempts, created_at, \
                 body_key_id, body_nonce, body_sealed"
            }
            Dialect::Postgres => {
                "UPDATE outbox SET lease_until = $2, claim = $4 WHERE id IN (\
                   SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_at LIMIT $3 \
                   FOR UPDATE SKIP LOCKED) \
                 RETURNING id, channel, recipient, subject, body_text, body_html, attempts, created_at, \
                 body_key_id, body_nonce, body_sealed"
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
                 claim = NULL, body_text = NULL, body_html = NULL, body_key_id = NULL, body_nonce = NULL, \
                 body_sealed = NULL, last_error = NULL WHERE id = $1 AND status = 'pending'",
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
