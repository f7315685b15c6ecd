//! Pending second-factor checks (a login's mfa_token, a step-up's challenge_token).

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, SessionId};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    pub token_hash: Vec<u8>,
    pub account_id: AccountId,
    /// `login` or `step_up`.
    pub purpose: String,
    pub action: Option<String>,
    /// What a step-up is for when the action names one (the account of `admin.mfa_reset`).
    pub target: Option<String>,
    pub session_id: Option<SessionId>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub failures: u32,
    pub consumed_at: Option<OffsetDateTime>,
}

impl ChallengeRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO mfa_challenges (token_hash, account_id, purpose, action, session_id, created_at, expires_at, target) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                self.token_hash.clone(),
                self.account_id.to_string(),
                self.purpose.as_str(),
                self.action.clone(),
                self.session_id.map(|s| s.to_string()),
                to_millis(self.created_at),
                to_millis(self.expires_at),
                self.target.clone(),
            ],
        ))
    }

    /// Counts a wrong code against the challenge, in the failure's transaction.
    pub fn failed(&self) -> Write {
        Write::new(Stmt::new(
            "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1",
            params![self.token_hash.clone()],
        ))
    }

    /// Spends the challenge unless the failure bucket `key` holds `max` failures since `since`:
    /// a guard that makes a success wait for the same lock as a failure.
    pub fn consume_unless_locked(
        &self,
        now: OffsetDateTime,
        max_failures: u32,
        key: &str,
        since: OffsetDateTime,
        bucket_max: u32,
    ) -> Write {
        Write::new(Stmt::guard(
            "UPDATE mfa_challenges SET consumed_at = $2 \
             WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2 AND failures < $3 \
             AND (SELECT COUNT(*) FROM auth_failures WHERE key = $4 AND at > $5) < $6",
            params![
                self.token_hash.clone(),
                to_millis(now),
                i64::from(max_failures),
                key,
                to_millis(since),
                i64::from(bucket_max)
            ],
        ))
    }

    /// Spends the challenge: a guard, so of two racing successes one wins.
    pub fn consume(&self, now: OffsetDateTime, max_failures: u32) -> Write {
        Write::new(Stmt::guard(
            "UPDATE mfa_challenges SET consumed_at = $2 \
             WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2 AND failures < $3",
            params![
                self.token_hash.clone(),
                to_millis(now),
                i64::from(max_failures)
            ],
        ))
    }
}

fn challenge_from_row(r: &Row) -> Result<ChallengeRecord> {
    Ok(ChallengeRecord {
        token_hash: r.bytes(0)?,
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        purpose: r.text(2)?,
        action: r.opt_text(3)?,
        session_id: r
            .opt_text(4)?
            .map(|s| parse_uuid(&s).map(SessionId))
            .transpose()?,
        created_at: from_millis(r.int(5)?),
        expires_at: from_millis(r.int(6)?),
        failures: u32::try_from(r.int(7)?).unwrap_or(u32::MAX),
        consumed_at: r.opt_int(8)?.map(from_millis),
        target: r.opt_text(9)?,
    })
}

impl Store {
    pub async fn challenge(&self, token_hash: &[u8]) -> Result<Option<ChallengeRecord>> {
        let rows = self
            .db
            .query(
                "SELECT token_hash, account_id, purpose, action, session_id, created_at, expires_at, failures, consumed_at, target \
                 FROM mfa_challenges WHERE token_hash = $1",
                params![token_hash.to_vec()],
            )
            .await?;
        rows.first().map(challenge_from_row).transpose()
    }

    /// The challenge and its account, in one read (the second step of every sign-in).
    pub async fn challenge_with_account(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(ChallengeRecord, deadbolt_core::account::Account)>> {
        let rows = self
            .db
            .query(
                "SELECT c.token_hash, c.account_id, c.purpose, c.action, c.session_id, c.created_at, \
                 c.expires_at, c.failures, c.consumed_at, c.target, \
                 a.id, a.email, a.email_verified, a.phone, a.phone_verified, a.password_hash, a.roles, a.created_at, a.sso_provider, \
                 a.subject_client_id, a.external_id, a.subject_email \
                 FROM mfa_challenges c JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = $1",
                params![token_hash.to_vec()],
            )
            .await?;
        rows.first()
            .map(|r| {
                let rest =
                    r.0.get(10..)
                        .ok_or_else(|| crate::StoreError::Corrupt("challenge row".into()))?;
                let account = crate::accounts::account_from_row(&Row(rest.to_vec()))?;
                Ok((challenge_from_row(r)?, account))
            })
            .transpose()
    }

    /// Counts a wrong code against a challenge; returns the failures so far.
    pub async fn challenge_failed(&self, token_hash: &[u8]) -> Result<u32> {
        let rows = self
            .db
            .query(
                "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures",
                params![token_hash.to_vec()],
            )
            .await?;
        Ok(rows
            .first()
            .map(|r| r.int(0))
            .transpose()?
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

/// Ends every open challenge of the account (pending sign-ins' mfa_tokens, step-up challenges,
/// reset tokens): after its password changes, nothing begun with the old one may go on.
pub fn end_challenges(account: deadbolt_core::ids::AccountId, now: OffsetDateTime) -> Write {
    Write::new(crate::db::Stmt::new(
        "UPDATE mfa_challenges SET consumed_at = $2 WHERE account_id = $1 AND consumed_at IS NULL",
        crate::params![account.to_string(), deadbolt_core::clock::to_millis(now)],
    ))
}

/// Ends the account's open password resets: their tokens stop working.
pub fn end_resets(account: deadbolt_core::ids::AccountId, now: OffsetDateTime) -> Write {
    Write::new(crate::db::Stmt::new(
        "UPDATE mfa_challenges SET consumed_at = $2 \
         WHERE account_id = $1 AND purpose = 'reset' AND consumed_at IS NULL",
        crate::params![account.to_string(), deadbolt_core::clock::to_millis(now)],
    ))
}
