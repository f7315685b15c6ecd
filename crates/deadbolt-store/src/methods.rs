//! Second-factor methods, TOTP secrets and recovery codes.

use crate::db::{Row, Stmt};
use crate::{params, parse_uuid, Result, Store, StoreError, Write};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::ids::{AccountId, MethodId, RecoveryCodeId};
use deadbolt_core::mfa::MethodKind;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct MethodRecord {
    pub id: MethodId,
    pub account_id: AccountId,
    pub kind: MethodKind,
    pub label: String,
    pub confirmed_at: Option<OffsetDateTime>,
    pub is_primary: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub consecutive_failures: u32,
    pub last_failure_at: Option<OffsetDateTime>,
    pub disabled_at: Option<OffsetDateTime>,
    /// Enrolled while MFA was on, under a step-up.
    pub enrolled_under_step_up: bool,
    /// Where a sent code goes: the number for sms and voice; None for email (the account's
    /// verified address) and for methods that send nothing.
    pub destination: Option<String>,
}

impl MethodRecord {
    /// Confirmed and not disabled: it can be offered and used.
    pub fn is_active(&self) -> bool {
        self.confirmed_at.is_some() && self.disabled_at.is_none()
    }

    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO mfa_methods (id, account_id, kind, label, confirmed_at, is_primary, created_at, enrolled_under_step_up, destination) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            params![
                self.id.to_string(),
                self.account_id.to_string(),
                self.kind.as_str(),
                self.label.as_str(),
                self.confirmed_at.map(to_millis),
                self.is_primary,
                to_millis(self.created_at),
                self.enrolled_under_step_up,
                self.destination.clone(),
            ],
        ))
    }
}

/// A TOTP method's sealed secret and parameters.
#[derive(Clone)]
pub struct TotpRecord {
    pub method_id: MethodId,
    pub master_key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub algorithm: String,
    pub digits: u32,
    pub period_seconds: i64,
    /// The last accepted time step (-1: none yet).
    pub last_step: i64,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("method_id", &self.method_id)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl TotpRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO totp_methods (method_id, master_key_id, nonce, ciphertext, algorithm, digits, period_seconds, last_step) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                self.method_id.to_string(),
                self.master_key_id.as_str(),
                self.nonce.clone(),
                self.ciphertext.clone(),
                self.algorithm.as_str(),
                i64::from(self.digits),
                self.period_seconds,
                self.last_step,
            ],
        ))
    }
}

#[derive(Clone)]
pub struct RecoveryCodeRecord {
    pub id: RecoveryCodeId,
    pub account_id: AccountId,
    pub lookup: Vec<u8>,
    /// Argon2id PHC string.
    pub hash: String,
    pub created_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// The hashing key `lookup` was made with: it is kept while this code is unused.
    pub hash_key_id: Option<String>,
}

impl std::fmt::Debug for RecoveryCodeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodeRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

impl RecoveryCodeRecord {
    pub fn insert(&self) -> Write {
        Write::new(Stmt::new(
            "INSERT INTO recovery_codes (id, account_id, lookup, hash, created_at, hash_key_id) VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                self.id.to_string(),
                self.account_id.to_string(),
                self.lookup.clone(),
                self.hash.as_str(),
                to_millis(self.created_at),
                self.hash_key_id.clone(),
            ],
        ))
    }
}

fn totp_from_row(r: &Row) -> Result<TotpRecord> {
    Ok(TotpRecord {
        method_id: MethodId(parse_uuid(&r.text(0)?)?),
        master_key_id: r.text(1)?,
        nonce: r.bytes(2)?,
        ciphertext: r.bytes(3)?,
        algorithm: r.text(4)?,
        digits: u32::try_from(r.int(5)?).map_err(|_| StoreError::Corrupt("totp digits".into()))?,
        period_seconds: r.int(6)?,
        last_step: r.int(7)?,
    })
}

fn method_from_row(r: &Row) -> Result<MethodRecord> {
    let kind = r.text(2)?;
    Ok(MethodRecord {
        id: MethodId(parse_uuid(&r.text(0)?)?),
        account_id: AccountId(parse_uuid(&r.text(1)?)?),
        kind: MethodKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("method kind {kind}")))?,
        label: r.text(3)?,
        confirmed_at: r.opt_int(4)?.map(from_millis),
        is_primary: r.bool(5)?,
        created_at: from_millis(r.int(6)?),
        last_used_at: r.opt_int(7)?.map(from_millis),
        consecutive_failures: u32::try_from(r.int(8)?).unwrap_or(u32::MAX),
        last_failure_at: r.opt_int(9)?.map(from_millis),
        disabled_at: r.opt_int(10)?.map(from_millis),
        enrolled_under_step_up: r.bool(11)?,
        destination: r.opt_text(12)?,
    })
}

/// Method reads for use cases to make with others.
pub mod reads {
    use super::*;
    use crate::read::Read;

    /// Every method of an account, oldest first.
    pub fn methods_of(account: AccountId) -> Read<Vec<MethodRecord>> {
        const SQL: &str = "SELECT id, account_id, kind, label, confirmed_at, is_primary, created_at, last_used_at, \
             consecutive_failures, last_failure_at, disabled_at, enrolled_under_step_up, destination FROM mfa_methods WHERE account_id = $1 ORDER BY created_at, id";
        debug_assert!(SQL.starts_with(METHOD_SELECT));
        Read::new(SQL, params![account.to_string()], |rows| {
            rows.iter().map(method_from_row).collect()
        })
    }

    /// The sealed TOTP secrets of an account's authenticator apps. (A subquery rather than a
    /// join: with a join, PostgreSQL without statistics yet, as on a database just filled,
    /// guessed many methods per account and hashed the whole secrets table on every call.)
    pub fn totp_of_account(account: AccountId) -> Read<Vec<TotpRecord>> {
        Read::new(
            "SELECT method_id, master_key_id, nonce, ciphertext, algorithm, digits, period_seconds, last_step \
             FROM totp_methods WHERE method_id IN \
             (SELECT id FROM mfa_methods WHERE account_id = $1 AND kind = $2)",
            params![account.to_string(), MethodKind::Totp.as_str()],
            |rows| rows.iter().map(totp_from_row).collect(),
        )
    }
}

/// Writes that change methods, for use cases to commit with others.
pub mod writes {
    use super::*;

    /// Spends a TOTP time step: changes nothing (and so fails as a guard) when this step or a
    /// later one was already accepted. This is the replay guard.
    pub fn accept_totp_step(method: MethodId, step: i64) -> Write {
        Write::new(Stmt::guard(
            "UPDATE totp_methods SET last_step = $2 WHERE method_id = $1 AND last_step < $2",
            params![method.to_string(), step],
        ))
    }

    /// A guard: passes only while the account has no confirmed method other than recovery
    /// codes (MFA is still off).
    pub fn mfa_still_off(account: AccountId) -> Write {
        Write::new(Stmt::guard(
            "UPDATE accounts SET id = id WHERE id = $1 AND NOT EXISTS (\
               SELECT 1 FROM mfa_methods WHERE account_id = $1 AND confirmed_at IS NOT NULL AND kind <> 'recovery_code')",
            params![account.to_string()],
        ))
    }

    /// Email methods send to the account's address: their hint follows a change of it.
    pub fn follow_email(account: AccountId, email: &deadbolt_core::email::Email) -> Write {
        Write::new(Stmt::new(
            "UPDATE mfa_methods SET destination = $2 WHERE account_id = $1 AND kind = 'email'",
            params![account.to_string(), email.as_str()],
        ))
    }

    /// Ends the runs of failures of an account's methods (and so their waits); a method
    /// disabled at the cap stays disabled until bound again.
    pub fn reset_failure_runs(account: AccountId) -> Write {
        Write::new(Stmt::new(
            "UPDATE mfa_methods SET consecutive_failures = 0, last_failure_at = NULL \
             WHERE account_id = $1 AND disabled_at IS NULL",
            params![account.to_string()],
        ))
    }

    /// Drops the account's pending (never confirmed) methods of `kind`.
    pub fn delete_pending(account: AccountId, kind: MethodKind) -> Write {
        Write::new(Stmt::new(
            "DELETE FROM mfa_methods WHERE account_id = $1 AND kind = $2 AND confirmed_at IS NULL",
            params![account.to_string(), kind.as_str()],
        ))
    }

    /// A success: the method was used, and its run of failures ends.
    pub fn method_used(method: MethodId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::new(
            "UPDATE mfa_methods SET last_used_at = $2, consecutive_failures = 0 WHERE id = $1",
            params![method.to_string(), to_millis(now)],
        ))
    }

    /// A wrong guess against the method: its run grows, and at `cap` it is disabled.
    pub fn guess_failed(method: MethodId, now: OffsetDateTime, cap: u32) -> Write {
        Write::new(Stmt::new(
            "UPDATE mfa_methods SET consecutive_failures = consecutive_failures + 1, last_failure_at = $2, \
             disabled_at = CASE WHEN consecutive_failures + 1 >= $3 AND disabled_at IS NULL THEN $2 ELSE disabled_at END \
             WHERE id = $1",
            params![method.to_string(), to_millis(now), i64::from(cap)],
        ))
    }

    /// Turns a pending method on; a guard, so a method confirms once.
    pub fn confirm_method(method: MethodId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE mfa_methods SET confirmed_at = $2, last_used_at = $2, consecutive_failures = 0, last_failure_at = NULL \
             WHERE id = $1 AND confirmed_at IS NULL",
            params![method.to_string(), to_millis(now)],
        ))
    }

    pub fn set_primary(account: AccountId, method: MethodId) -> Vec<Write> {
        vec![
            Write::new(Stmt::new(
                "UPDATE mfa_methods SET is_primary = FALSE WHERE account_id = $1",
                params![account.to_string()],
            )),
            Write::new(Stmt::guard(
                "UPDATE mfa_methods SET is_primary = TRUE WHERE id = $2 AND account_id = $1 \
                 AND confirmed_at IS NOT NULL AND disabled_at IS NULL AND kind <> 'recovery_code'",
                params![account.to_string(), method.to_string()],
            )),
        ]
    }

    /// Spends a recovery code; a guard, so a code works once even when raced.
    pub fn use_recovery_code(code: RecoveryCodeId, now: OffsetDateTime) -> Write {
        Write::new(Stmt::guard(
            "UPDATE recovery_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
            params![code.to_string(), to_millis(now)],
        ))
    }

    /// Kills every recovery code of the account (before a new set, or when MFA goes off).
    pub fn delete_recovery_codes(account: AccountId) -> Write {
        Write::new(Stmt::new(
            "DELETE FROM recovery_codes WHERE account_id = $1",
            params![account.to_string()],
        ))
    }

    pub fn delete_method(account: AccountId, method: MethodId) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM mfa_methods WHERE id = $2 AND account_id = $1",
            params![account.to_string(), method.to_string()],
        ))
    }

    /// Deletes a method only while another confirmed method (not recovery codes) remains: a
    /// removal that would turn MFA off must take the path that does so on purpose. Preceded by
    /// the account's bucket lock on PostgreSQL, so that two parallel removals of the last two
    /// methods cannot both see the other one still there.
    pub fn delete_method_keeping_another(account: AccountId, method: MethodId) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM mfa_methods WHERE id = $2 AND account_id = $1 AND EXISTS ( \
               SELECT 1 FROM mfa_methods o WHERE o.account_id = $1 AND o.id <> $2 \
               AND o.confirmed_at IS NOT NULL AND o.kind <> 'recovery_code')",
            params![account.to_string(), method.to_string()],
        ))
    }

    /// Deletes the last confirmed method, the one whose removal turns MFA off: only while no
    /// other is confirmed (a parallel confirmation would otherwise be deleted with it).
    pub fn delete_last_method(account: AccountId, method: MethodId) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM mfa_methods WHERE id = $2 AND account_id = $1 AND NOT EXISTS ( \
               SELECT 1 FROM mfa_methods o WHERE o.account_id = $1 AND o.id <> $2 \
               AND o.confirmed_at IS NOT NULL AND o.kind <> 'recovery_code')",
            params![account.to_string(), method.to_string()],
        ))
    }

    /// Deletes a method still waiting for its confirmation, and only while it waits.
    pub fn delete_pending_method(account: AccountId, method: MethodId) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM mfa_methods WHERE id = $2 AND account_id = $1 AND confirmed_at IS NULL",
            params![account.to_string(), method.to_string()],
        ))
    }

    /// Deletes every confirmed second factor (not recovery codes): a guard, so that of two
    /// parallel ways of turning MFA off one alone does it, with its event and its mail.
    pub fn delete_confirmed_factors(account: AccountId) -> Write {
        Write::new(Stmt::guard(
            "DELETE FROM mfa_methods WHERE account_id = $1 AND confirmed_at IS NOT NULL \
             AND kind <> 'recovery_code'",
            params![account.to_string()],
        ))
    }

    pub fn delete_all_methods(account: AccountId) -> Write {
        Write::new(Stmt::new(
            "DELETE FROM mfa_methods WHERE account_id = $1",
            params![account.to_string()],
        ))
    }
}

const METHOD_SELECT: &str =
    "SELECT id, account_id, kind, label, confirmed_at, is_primary, created_at, last_used_at, \
     consecutive_failures, last_failure_at, disabled_at, enrolled_under_step_up, destination FROM mfa_methods";

impl Store {
    /// Every method of an account, oldest first.
    pub async fn methods_of(&self, account: AccountId) -> Result<Vec<MethodRecord>> {
        self.read(reads::methods_of(account)).await
    }

    pub async fn totp_of(&self, method: MethodId) -> Result<Option<TotpRecord>> {
        let rows = self
            .db
            .query(
                "SELECT method_id, master_key_id, nonce, ciphertext, algorithm, digits, period_seconds, last_step \
                 FROM totp_methods WHERE method_id = $1",
                params![method.to_string()],
            )
            .await?;
        rows.first().map(totp_from_row).transpose()
    }

    /// Every TOTP secret (for re-sealing under a new master key).
    pub async fn all_totp(&self) -> Result<Vec<TotpRecord>> {
        let rows = self
            .db
            .query(
                "SELECT method_id, master_key_id, nonce, ciphertext, algorithm, digits, period_seconds, last_step FROM totp_methods",
                vec![],
            )
            .await?;
        rows.iter().map(totp_from_row).collect()
    }

    /// Replaces a sealed TOTP secret, if it is still sealed by `old_key` (false otherwise).
    pub async fn reseal_totp(
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
                "UPDATE totp_methods SET master_key_id = $3, nonce = $4, ciphertext = $5 WHERE method_id = $1 AND master_key_id = $2",
                params![method.to_string(), old_key, new_key, nonce, ciphertext],
            )
            .await?;
        Ok(n == 1)
    }

    /// Counts a failure against a method, disabling it when `disable`.
    pub async fn method_failed(
        &self,
        method: MethodId,
        now: OffsetDateTime,
        disable: bool,
    ) -> Result<u32> {
        let rows = self
            .db
            .query(
                "UPDATE mfa_methods SET consecutive_failures = consecutive_failures + 1, last_failure_at = $2, \
                 disabled_at = CASE WHEN $3 THEN $2 ELSE disabled_at END WHERE id = $1 RETURNING consecutive_failures",
                params![method.to_string(), to_millis(now), disable],
            )
            .await?;
        Ok(rows
            .first()
            .map(|r| r.int(0))
            .transpose()?
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// The recovery code a lookup hash names.
    pub async fn recovery_code(&self, lookup: &[u8]) -> Result<Option<RecoveryCodeRecord>> {
        let rows = self
            .db
            .query(
                "SELECT id, account_id, lookup, hash, created_at, used_at, hash_key_id FROM recovery_codes WHERE lookup = $1",
                params![lookup.to_vec()],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(RecoveryCodeRecord {
                    id: RecoveryCodeId(parse_uuid(&r.text(0)?)?),
                    account_id: AccountId(parse_uuid(&r.text(1)?)?),
                    lookup: r.bytes(2)?,
                    hash: r.text(3)?,
                    created_at: from_millis(r.int(4)?),
                    used_at: r.opt_int(5)?.map(from_millis),
                    hash_key_id: r.opt_text(6)?,
                })
            })
            .transpose()
    }

    pub async fn recovery_codes_remaining(&self, account: AccountId) -> Result<i64> {
        let rows = self
            .db
            .query(
                "SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL",
                params![account.to_string()],
            )
            .await?;
        rows.first().map_or(Ok(0), |r| r.int(0))
    }
}
