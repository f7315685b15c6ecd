//! Accounts.

use crate::codes::NewCode;
use crate::db::{BatchOutcome, Row, Stmt};
use crate::events::EventRecord;
use crate::outbox::SealedMessage;
use crate::{params, parse_uuid, Result, Store, StoreError};
use deadbolt_core::account::{Account, Role};
use deadbolt_core::clock::{from_millis, to_millis};
use deadbolt_core::email::Email;
use deadbolt_core::ids::AccountId;
use deadbolt_core::password::PasswordHashString;
use deadbolt_core::phone::Phone;
use deadbolt_core::subject::{ExternalId, SubjectOf};

/// An account to insert, with everything that must be written with it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub account: Account,
    /// Codes that prove the new account's channels.
    pub codes: Vec<NewCode>,
    /// The messages carrying them.
    pub messages: Vec<SealedMessage>,
    pub event: EventRecord,
}

const ACCOUNT_COLUMNS: &str = "id, email, email_verified, phone, phone_verified, password_hash, roles, created_at, sso_provider, \
     subject_client_id, external_id, subject_email";

pub(crate) fn account_from_row(r: &Row) -> Result<Account> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("account {what}"));
    let subject_of = match (r.opt_text(9)?, r.opt_text(10)?) {
        (Some(client_id), Some(external)) => Some(SubjectOf {
            client_id,
            external_id: ExternalId::parse(&external).map_err(|_| corrupt("external id"))?,
        }),
        _ => None,
    };
    // a subject's own address where its product gave one, else the placeholder of its row
    let email = match r.opt_text(11)?.filter(|_| subject_of.is_some()) {
        Some(stated) => stated,
        None => r.text(1)?,
    };
    Ok(Account {
        id: AccountId(parse_uuid(&r.text(0)?)?),
        email: Email::parse(&email).map_err(|_| corrupt("email"))?,
        email_verified: r.bool(2)?,
        phone: r
            .opt_text(3)?
            .map(|p| Phone::parse(&p).map_err(|_| corrupt("phone")))
            .transpose()?,
        phone_verified: r.bool(4)?,
        password_hash: r.opt_text(5)?.map(PasswordHashString),
        roles: r
            .text(6)?
            .split_whitespace()
            .map(|s| Role::parse(s).ok_or_else(|| corrupt("role")))
            .collect::<Result<_>>()?,
        created_at: from_millis(r.int(7)?),
        sso_provider: r.opt_text(8)?,
        subject_of,
    })
}

impl Store {
    /// Inserts the account with its codes, messages and event in one transaction.
    /// `Conflict` when the email is taken.
    pub async fn create_account(&self, new: NewAccount) -> Result<()> {
        let a = &new.account;
        let roles: Vec<&str> = a.roles.iter().map(Role::as_str).collect();
        let mut stmts = vec![Stmt::new(
            "INSERT INTO accounts (id, email, email_verified, phone, phone_verified, password_hash, roles, created_at, sso_provider) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            params![
                a.id.to_string(),
                a.email.as_str(),
                a.email_verified,
                a.phone.as_ref().map(Phone::as_str),
                a.phone_verified,
                a.password_hash.as_ref().map(|h| h.0.clone()),
                roles.join(" "),
                to_millis(a.created_at),
                a.sso_provider.clone(),
            ],
        )];
        stmts.extend(new.codes.iter().map(NewCode::insert));
        stmts.extend(new.messages.iter().map(SealedMessage::insert));
        stmts.push(new.event.insert());
        match self.db.batch(stmts).await? {
            BatchOutcome::Committed => Ok(()),
            BatchOutcome::GuardFailed(_) => Err(StoreError::Conflict),
        }
    }

    /// Replaces the password hash.
    pub fn set_password(&self, account: AccountId, hash: &PasswordHashString) -> crate::Write {
        crate::Write::new(Stmt::new(
            "UPDATE accounts SET password_hash = $2 WHERE id = $1",
            params![account.to_string(), hash.0.clone()],
        ))
    }

    /// Replaces the email with a new, proven one.
    pub fn set_email(&self, account: AccountId, email: &Email) -> crate::Write {
        crate::Write::new(Stmt::guard(
            "UPDATE accounts SET email = $2, email_verified = TRUE WHERE id = $1",
            params![account.to_string(), email.as_str()],
        ))
    }

    /// Replaces the phone with a new, proven one.
    pub fn set_phone(&self, account: AccountId, phone: &Phone) -> crate::Write {
        crate::Write::new(Stmt::guard(
            "UPDATE accounts SET phone = $2, phone_verified = TRUE WHERE id = $1",
            params![account.to_string(), phone.as_str()],
        ))
    }

    /// Takes back the proof of the account's phone (its number stays, to be proven again).
    pub fn unverify_phone(&self, account: AccountId) -> crate::Write {
        crate::Write::new(Stmt::new(
            "UPDATE accounts SET phone_verified = FALSE WHERE id = $1",
            params![account.to_string()],
        ))
    }

    /// Deletes the account; everything that belongs to it goes with it (ON DELETE CASCADE),
    /// except its security events.
    pub fn delete_account(&self, account: AccountId) -> crate::Write {
        crate::Write::new(Stmt::guard(
            "DELETE FROM accounts WHERE id = $1",
            params![account.to_string()],
        ))
    }

    pub async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        const SQL: &str = "SELECT id, email, email_verified, phone, phone_verified, password_hash, roles, created_at, sso_provider, \
     subject_client_id, external_id, subject_email FROM accounts WHERE email = $1 AND subject_client_id IS NULL";
        debug_assert!(SQL.contains(ACCOUNT_COLUMNS));
        let rows = self.db.query(SQL, params![email.as_str()]).await?;
        rows.first().map(account_from_row).transpose()
    }

    pub async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        const SQL: &str = "SELECT id, email, email_verified, phone, phone_verified, password_hash, roles, created_at, sso_provider, \
     subject_client_id, external_id, subject_email FROM accounts WHERE id = $1";
        debug_assert!(SQL.contains(ACCOUNT_COLUMNS));
        let rows = self.db.query(SQL, params![id.to_string()]).await?;
        rows.first().map(account_from_row).transpose()
    }
}
