//! One-time codes sent to a channel.

use crate::db::{BatchOutcome, Stmt};
use crate::events::EventRecord;
use crate::{params, parse_uuid, Result, Store, StoreError};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::code::{CodePurpose, StoredCode, MAX_CODE_ATTEMPTS};
use deadbolt_core::ids::{AccountId, CodeId};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: CodeId,
    pub account_id: AccountId,
    pub purpose: CodePurpose,
    /// The address or number the code was sent to.
    pub destination: String,
    /// What else the code is bound to: the method being enrolled, or the method and the
    /// challenge it was sent for. None for codes that prove the account's own channels.
    pub scope: Option<String>,
    pub hash: Vec<u8>,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

impl NewCode {
    pub fn write(&self) -> crate::Write {
        crate::Write::new(self.insert())
    }

    pub(crate) fn insert(&self) -> Stmt {
        Stmt::new(
            "INSERT INTO verification_codes (id, account_id, purpose, code_hash, expires_at, attempts, created_at, destination, scope) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)",
            params![
                self.id.to_string(),
                self.account_id.to_string(),
                self.purpose.as_str(),
                self.hash.clone(),
                to_millis(self.expires_at),
                to_millis(self.created_at),
                self.destination.as_str(),
                self.scope.clone(),
            ],
        )
    }
}

#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub id: CodeId,
    pub stored: StoredCode,
    /// Where it was sent: for an address change, the new address.
    pub destination: Option<String>,
}

impl CodeRecord {
    /// Counts a wrong try against a code.
    pub fn wrong_try(id: CodeId) -> crate::Write {
        crate::Write::new(Stmt::new(
            "UPDATE verification_codes SET attempts = attempts + 1 WHERE id = $1",
            params![id.to_string()],
        ))
    }

    /// Spends the code: a guard, so of two racing submissions one wins.
    pub fn consume(&self, now: OffsetDateTime) -> crate::Write {
        crate::Write::new(Stmt::guard(
            "UPDATE verification_codes SET consumed_at = $2 \
             WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3",
            params![
                self.id.to_string(),
                to_millis(now),
                i64::from(MAX_CODE_ATTEMPTS)
            ],
        ))
    }
}

impl Store {
    /// What was sent lately to this account (for `purpose`) and to this destination, counting
    /// only codes of the same class as `purpose` (see `CodePurpose::is_unauthenticated`).
    pub async fn sent_lately(
        &self,
        account: AccountId,
        purpose: CodePurpose,
        destination: &str,
        since: OffsetDateTime,
    ) -> Result<deadbolt_core::code::SentLately> {
        let sql = if purpose.is_unauthenticated() {
            "SELECT \
               (SELECT MAX(created_at) FROM verification_codes WHERE account_id = $1 AND purpose = $2), \
               (SELECT COUNT(*) FROM verification_codes WHERE account_id = $1 AND created_at > $4 AND purpose IN ('verify_email', 'verify_phone', 'reset_password')), \
               (SELECT COUNT(*) FROM verification_codes WHERE destination = $3 AND created_at > $4 AND purpose IN ('verify_email', 'verify_phone', 'reset_password')), \
               (SELECT MIN(created_at) FROM verification_codes WHERE (account_id = $1 OR destination = $3) AND created_at > $4 AND purpose IN ('verify_email', 'verify_phone', 'reset_password'))"
        } else {
            "SELECT \
               (SELECT MAX(created_at) FROM verification_codes WHERE account_id = $1 AND purpose = $2), \
               (SELECT COUNT(*) FROM verification_codes WHERE account_id = $1 AND created_at > $4 AND purpose NOT IN ('verify_email', 'verify_phone', 'reset_password')), \
               (SELECT COUNT(*) FROM verification_codes WHERE destination = $3 AND created_at > $4 AND purpose NOT IN ('verify_email', 'verify_phone', 'reset_password')), \
               (SELECT MIN(created_at) FROM verification_codes WHERE (account_id = $1 OR destination = $3) AND created_at > $4 AND purpose NOT IN ('verify_email', 'verify_phone', 'reset_password'))"
        };
        let rows = self
            .db
            .query(
                sql,
                params![
                    account.to_string(),
                    purpose.as_str(),
                    destination,
                    to_millis(since)
                ],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(deadbolt_core::code::SentLately::default());
        };
        Ok(deadbolt_core::code::SentLately {
            last_to_account: r.opt_int(0)?.map(from_millis),
            to_account_last_hour: u32::try_from(r.int(1)?).unwrap_or(u32::MAX),
            to_destination_last_hour: u32::try_from(r.int(2)?).unwrap_or(u32::MAX),
            oldest_in_hour: r.opt_int(3)?.map(from_millis),
        })
    }

    /// The writes that hold a send to the resend limits inside its own transaction: locks that
    /// serialise sends per account and per destination (PostgreSQL; SQLite has one writer), then
    /// a guard that fails when the limits say no. Put them before the code's insert; without
    /// them, parallel requests could each read "nothing sent lately" and all send.
    pub fn send_limits(
        &self,
        code: &NewCode,
        policy: &deadbolt_core::code::ResendPolicy,
    ) -> Vec<crate::Write> {
        self.send_limit_stmts(code, policy, None)
            .into_iter()
            .map(crate::Write::new)
            .collect()
    }

    /// The locks and the guard of [`Store::send_limits`]; with `stand_in`, the guard's check
    /// runs against that throttle row instead of the account's, and fails nothing.
    fn send_limit_stmts(
        &self,
        code: &NewCode,
        policy: &deadbolt_core::code::ResendPolicy,
        stand_in: Option<&str>,
    ) -> Vec<Stmt> {
        let mut stmts: Vec<Stmt> = [
            self.lock_bucket(&format!("send:account:{}", code.account_id)),
            self.lock_bucket(&format!("send:destination:{}", code.destination)),
        ]
        .into_iter()
        .flatten()
        .map(|w| w.stmt)
        .collect();
        macro_rules! limits {
            ($row:literal, $kinds:literal) => {
                concat!(
                    $row,
                    " AND NOT EXISTS (SELECT 1 FROM verification_codes WHERE account_id = $1 AND purpose = $2 AND created_at > $3) \
                     AND (SELECT COUNT(*) FROM verification_codes WHERE account_id = $1 AND created_at > $4 AND purpose ",
                    $kinds,
                    " ('verify_email', 'verify_phone', 'reset_password')) < $5 \
                     AND (SELECT COUNT(*) FROM verification_codes WHERE destination = $6 AND created_at > $4 AND purpose ",
                    $kinds,
                    " ('verify_email', 'verify_phone', 'reset_password')) < $7"
                )
            };
        }
        let sql = match (code.purpose.is_unauthenticated(), stand_in.is_some()) {
            (true, false) => limits!("UPDATE accounts SET id = id WHERE id = $1", "IN"),
            (false, false) => limits!("UPDATE accounts SET id = id WHERE id = $1", "NOT IN"),
            (true, true) => limits!("UPDATE auth_failures SET at = at WHERE key = $8", "IN"),
            (false, true) => limits!("UPDATE auth_failures SET at = at WHERE key = $8", "NOT IN"),
        };
        let now = code.created_at;
        let mut params = params![
            code.account_id.to_string(),
            code.purpose.as_str(),
            to_millis(now - time::Duration::seconds(policy.resend_after_seconds)),
            to_millis(now - time::Duration::HOUR),
            i64::from(policy.max_per_hour_per_account),
            code.destination.as_str(),
            i64::from(policy.max_per_hour_per_destination),
        ];
        stmts.push(match stand_in {
            None => Stmt::guard(sql, params),
            Some(key) => {
                params.push(key.into());
                Stmt::new(sql, params)
            }
        });
        stmts
    }

    /// The writes of a code's send, made and undone in one transaction, for a request that
    /// sends nothing (an unknown address, nothing to prove, over the limits) but must take as
    /// long as one that sends, so that its time does not tell which addresses have accounts.
    /// Nothing stays and nothing is delivered: the message is deleted before the transaction
    /// commits, so no worker ever sees it. The code (whose account may not exist, which its
    /// foreign key would refuse) is stood in for by a throttle row, which the limits' check
    /// finds and rewrites as the real check does the account's row.
    pub fn undone_send(
        &self,
        code: &NewCode,
        policy: &deadbolt_core::code::ResendPolicy,
        message: &crate::SealedMessage,
        events: &[EventRecord],
    ) -> Vec<crate::Write> {
        let stand_in = format!("stand-in:{}", code.id);
        let mut stmts = vec![Stmt::new(
            "INSERT INTO auth_failures (key, at) VALUES ($1, $2)",
            params![stand_in.as_str(), to_millis(code.created_at)],
        )];
        stmts.extend(self.send_limit_stmts(code, policy, Some(&stand_in)));
        stmts.push(message.write().stmt);
        stmts.extend(events.iter().map(|e| e.write().stmt));
        stmts.push(Stmt::new(
            "DELETE FROM auth_failures WHERE key = $1",
            params![stand_in.as_str()],
        ));
        stmts.push(Stmt::new(
            "DELETE FROM outbox WHERE id = $1",
            params![message.id.to_string()],
        ));
        for e in events {
            stmts.push(Stmt::new(
                "DELETE FROM events WHERE id = $1",
                params![e.id.to_string()],
            ));
        }
        stmts.into_iter().map(crate::Write::new).collect()
    }

    /// The most recent code for this purpose and scope; a newer code supersedes older ones.
    pub async fn latest_code(
        &self,
        account: AccountId,
        purpose: CodePurpose,
        scope: Option<&str>,
    ) -> Result<Option<CodeRecord>> {
        let rows = self
            .db
            .query(
                "SELECT id, code_hash, expires_at, attempts, consumed_at, destination FROM verification_codes \
                 WHERE account_id = $1 AND purpose = $2 AND COALESCE(scope, '') = $3 \
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                params![account.to_string(), purpose.as_str(), scope.unwrap_or("")],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(CodeRecord {
                    id: CodeId(parse_uuid(&r.text(0)?)?),
                    stored: StoredCode {
                        hash: r.bytes(1)?,
                        expires_at: from_millis(r.int(2)?),
                        attempts: u32::try_from(r.int(3)?).unwrap_or(u32::MAX),
                        consumed: r.opt_int(4)?.is_some(),
                    },
                    destination: r.opt_text(5)?,
                })
            })
            .transpose()
    }

    /// Spends a code and marks the channel verified, atomically: of two racing submissions of
    /// the same code, one wins. False when the code was no longer live.
    pub async fn consume_verification_code(
        &self,
        id: CodeId,
        account: AccountId,
        purpose: CodePurpose,
        now: OffsetDateTime,
        event: EventRecord,
    ) -> Result<bool> {
        let verify = match purpose {
            CodePurpose::VerifyEmail => "UPDATE accounts SET email_verified = TRUE WHERE id = $1",
            CodePurpose::VerifyPhone => "UPDATE accounts SET phone_verified = TRUE WHERE id = $1",
            _ => {
                return Err(StoreError::Internal(anyhow::anyhow!(
                    "only sign-up codes verify an account's channel"
                )));
            }
        };
        let outcome = self
            .db
            .batch(vec![
                Stmt::guard(
                    "UPDATE verification_codes SET consumed_at = $2 \
                     WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3",
                    params![id.to_string(), to_millis(now), i64::from(MAX_CODE_ATTEMPTS)],
                ),
                Stmt::guard(verify, params![account.to_string()]),
                event.insert(),
            ])
            .await?;
        match outcome {
            BatchOutcome::Committed => Ok(true),
            BatchOutcome::GuardFailed(0) => Ok(false),
            BatchOutcome::GuardFailed(_) => {
                Err(StoreError::Corrupt("code for a missing account".to_owned()))
            }
        }
    }
}

/// Spends every live code that went to the account's email (verification and reset codes):
/// once the address changes, what was sent to the old one must not work.
pub fn spend_email_codes(account: AccountId, now: OffsetDateTime) -> crate::Write {
    crate::Write::new(Stmt::new(
        "UPDATE verification_codes SET consumed_at = $2 \
         WHERE account_id = $1 AND consumed_at IS NULL AND purpose IN ('verify_email', 'reset_password')",
        params![account.to_string(), to_millis(now)],
    ))
}
