//! Push approvals: a push method's approver (a session, maybe a key and a gateway address) and
//! the requests waiting for its answer.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, ApprovalId, MethodId, SessionId};
use time::OffsetDateTime;

/// What a push method keeps beyond its `mfa_methods` row.
#[derive(Clone)]
pub struct PushMethodRecord {
    pub method_id: MethodId,
    /// The approver: only this session sees and answers the method's requests.
    pub session_id: SessionId,
    /// Ed25519 public key (32 bytes): answers must be signed with its private half.
    pub public_key: Option<Vec<u8>>,
    /// The push gateway address, sealed: (master key id, nonce, ciphertext).
    pub sealed_token: Option<(String, Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for PushMethodRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushMethodRecord")
            .field("method_id", &self.method_id)
            .field("session_id", &self.session_id)
            .field("bound", &self.public_key.is_some())
            .finish_non_exhaustive()
    }
}

impl PushMethodRecord {
    pub fn insert(&self) -> Write {
        let (key, nonce, ct) = match &self.sealed_token {
            Some((k, n, c)) => (Some(k.clone()), Some(n.clone()), Some(c.clone())),
            None => (None, None, None),
        };
        Write::new(Stmt::new(
            "INSERT INTO push_methods (method_id, session_id, public_key, token_key_id, token_nonce, token_ciphertext) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                self.method_id.to_string(),
                self.session_id.to_string(),
                self.public_key.clone(),
                key,
                nonce,
                ct,
            ],
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Expired,
    /// Approved, then spent by the sign-in or step-up it was for.
    Used,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Used => "used",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Denied,
            Self::Expired,
            Self::Used,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One push request.
#[derive(Clone)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    pub account_id: AccountId,
    pub method_id: MethodId,
    pub challenge_hash: Vec<u8>,
    /// The number shown on the requesting screen (10..=99); never shown to the approver.
    pub number: i64,
    pub state: ApprovalState,
    pub reason: Option<String>,
    pub bound: bool,
    /// What asked: `sign_in`, `step_up`, `password_reset`, ...
    pub purpose: String,
    pub action: Option<String>,
    pub ip: Option<String>,
    pub place: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ApprovalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalRecord")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

const APPROVAL_SELECT: &str = "SELECT id, account_id, method_id, challenge_hash, number, state, reason, bound, purpose, action, ip, place, user_agent, created_at, expires_at, decided_at FROM push_approvals";

fn approval_from_row(r: &Row) -> Result<ApprovalRecord> {
    let state = r.text(5)?;
    Ok(ApprovalRecord {
        id: ApprovalId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        method_id: MethodId(parse_uuid(&r.text(2)?)?),
        challenge_hash: r.bytes(3)?,
        number: r.int(4)?,
        state: ApprovalState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("approval state {state}")))?,
        reason: r.opt_text(6)?,
        bound: r.bool(7)?,
        purpose: r.text(8)?,
        action: r.opt_text(9)?,
        ip: r.opt_text(10)?,
        place: r.opt_text(11)?,
        user_agent: r.opt_text(12)?,
        created_at: from_millis(r.int(13)?),
        expires_at: from_millis(r.int(14)?),
        decided_at: r.opt_int(15)?.map(from_millis),
    })
}

impl ApprovalRecord {
    /// The insert: a uniqueness conflict when another request of the account is pending.
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO push_approvals (id, account_id, method_id, challenge_hash, number, state, purpose, action, ip, place, user_agent, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12)",
            params![
                self.id.to_string(),
                self.account_id.to_string(),
                self.method_id.to_string(),
                self.challenge_hash.clone(),
                self.number,
                self.purpose.as_str(),
                self.action.clone(),
                self.ip.clone(),
                self.place.clone(),
                self.user_agent.clone(),
                to_millis(self.created_at),
                to_millis(self.expires_at),
            ],
        ))
    }
}

/// Writes on approvals, for use cases to commit with others.
pub mod push_writes {
    use super::*;

    /// Marks the account's pending requests that outlived their time as expired, so that they
    /// no longer hold the account's one pending place.
    pub fn expire_stale(account: AccountId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "UPDATE push_approvals SET state = 'expired' WHERE account_id = $1 AND state = 'pending' AND expires_at <= $2",
            params![account.to_string(), to_millis(now)],
        ))
    }

    /// Decides a pending, live request: a guard, so a request is answered once.
    pub fn decide(
        id: ApprovalId,
        approved: bool,
        reason: Option<&str>,
        bound: bool,
        now: OffsetDateTime,
    ) -> Write {
        Write::new(Stmt::guard(
            "UPDATE push_approvals SET state = $2, reason = $3, bound = $4, decided_at = $5 \
             WHERE id = $1 AND state = 'pending' AND expires_at > $5",
            params![
                id.to_string(),
                if approved { "approved" } else { "denied" },
                reason.map(str::to_owned),
                bound,
                to_millis(now),
            ],
        ))
    }

    /// "This wasn't me" after the request's time ran out (the prompt was still open): a denial
    /// all the same, so that it is recorded and pauses push. A guard: never over an answer.
    pub fn deny_late(id: ApprovalId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE push_approvals SET state = 'denied', reason = 'user_denied', decided_at = $2 \
             WHERE id = $1 AND state IN ('pending', 'expired') AND expires_at <= $2",
            params![id.to_string(), to_millis(now)],
        ))
    }

    /// Spends an approved request: a guard, so it signs in once.
    pub fn spend(id: ApprovalId) -> Write {
        Write::new(Stmt::guard(
            "UPDATE push_approvals SET state = 'used' WHERE id = $1 AND state = 'approved'",
            params![id.to_string()],
        ))
    }
}

impl Store {
    pub async fn push_method(&self, method: MethodId) -> Result<Option<PushMethodRecord>> {
        let rows = self
            .db
            .query(
                "SELECT method_id, session_id, public_key, token_key_id, token_nonce, token_ciphertext FROM push_methods WHERE method_id = $1",
                params![method.to_string()],
            )
            .await?;
        rows.first()
            .map(|r| {
                let sealed = match (r.opt_text(3)?, r.opt_bytes(4)?, r.opt_bytes(5)?) {
                    (Some(k), Some(n), Some(c)) => Some((k, n, c)),
                    _ => None,
                };
                Ok(PushMethodRecord {
                    method_id: MethodId(parse_uuid(&r.text(0)?)?),
                    session_id: SessionId(parse_uuid(&r.text(1)?)?),
                    public_key: r.opt_bytes(2)?,
                    sealed_token: sealed,
                })
            })
            .transpose()
    }

    pub async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalRecord>> {
        const SQL: &str = "SELECT id, account_id, method_id, challenge_hash, number, state, reason, bound, purpose, action, ip, place, user_agent, created_at, expires_at, decided_at FROM push_approvals WHERE id = $1";
        debug_assert!(SQL.starts_with(APPROVAL_SELECT));
        let rows = self.db.query(SQL, params![id.to_string()]).await?;
        rows.first().map(approval_from_row).transpose()
    }

    /// The account's request that is pending and still live, if any.
    pub async fn pending_approval(
        &self,
        account: AccountId,
        now: OffsetDateTime,
    ) -> Result<Option<ApprovalRecord>> {
        const SQL: &str = "SELECT id, account_id, method_id, challenge_hash, number, state, reason, bound, purpose, action, ip, place, user_agent, created_at, expires_at, decided_at FROM push_approvals \
             WHERE account_id = $1 AND state = 'pending' AND expires_at > $2";
        debug_assert!(SQL.starts_with(APPROVAL_SELECT));
        let rows = self
            .db
            .query(SQL, params![account.to_string(), to_millis(now)])
            .await?;
        rows.first().map(approval_from_row).transpose()
    }

    /// The pending, live requests of the push methods whose approver is `session`.
    pub async fn approvals_for_session(
        &self,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<Vec<ApprovalRecord>> {
        const SQL: &str = "SELECT id, account_id, method_id, challenge_hash, number, state, reason, bound, purpose, action, ip, place, user_agent, created_at, expires_at, decided_at FROM push_approvals \
             WHERE state = 'pending' AND expires_at > $2 AND method_id IN (SELECT method_id FROM push_methods WHERE session_id = $1) \
             ORDER BY created_at";
        debug_assert!(SQL.starts_with(APPROVAL_SELECT));
        let rows = self
            .db
            .query(SQL, params![session.to_string(), to_millis(now)])
            .await?;
        rows.iter().map(approval_from_row).collect()
    }

    /// Every sealed push gateway address: (method, master key id, nonce, ciphertext), for
    /// sealing again under a new master key.
    pub async fn all_push_tokens(&self) -> Result<Vec<(MethodId, String, Vec<u8>, Vec<u8>)>> {
        let rows = self
            .db
            .query(
                "SELECT method_id, token_key_id, token_nonce, token_ciphertext FROM push_methods WHERE token_key_id IS NOT NULL",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    MethodId(parse_uuid(&r.text(0)?)?),
                    r.text(1)?,
                    r.bytes(2)?,
                    r.bytes(3)?,
                ))
            })
            .collect()
    }

    /// Replaces a sealed push gateway address, if it is still sealed by `old_key`.
    pub async fn reseal_push_token(
        &self,
        method: MethodId,
        old_key: &str,
        new_key: &str,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<bool> {
        let n = self
            .db
            .execute(
                "UPDATE push_methods SET token_key_id = $3, token_nonce = $4, token_ciphertext = $5 WHERE method_id = $1 AND token_key_id = $2",
                params![method.to_string(), old_key, new_key, nonce, ciphertext],
            )
            .await?;
        Ok(n == 1)
    }

    /// How many requests the account made since `since`, and when its approver last said
    /// "this wasn't me" since `denied_since` (the pause).
    pub async fn push_history(
        &self,
        account: AccountId,
        since: OffsetDateTime,
        denied_since: OffsetDateTime,
    ) -> Result<(i64, Option<OffsetDateTime>)> {
        let rows = self
            .db
            .query(
                "SELECT (SELECT COUNT(*) FROM push_approvals WHERE account_id = $1 AND created_at > $2), \
                        (SELECT MAX(decided_at) FROM push_approvals WHERE account_id = $1 AND reason = 'user_denied' AND decided_at > $3)",
                params![account.to_string(), to_millis(since), to_millis(denied_since)],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok((0, None));
        };
        Ok((r.int(0)?, r.opt_int(1)?.map(from_millis)))
    }
}
