//! Subjects: accounts a client owns under its own identifiers.

use crate::accounts::account_from_row;
use crate::db::Stmt;
use crate::{params, Result, Store, Write};
use deadbolt_core::account::Account;
use deadbolt_core::clock::to_millis;
use deadbolt_core::phone::Phone;
use deadbolt_core::subject::{placeholder_email, ExternalId};

/// The address a subject's product stated, or None where it stated none.
fn stated_email(account: &Account) -> Option<&str> {
    account.has_email().then(|| account.email.as_str())
}

/// Inserts a subject account: a guard, so that of two requests creating one subject at once
/// one alone writes it (the other reads it back).
pub fn insert_subject(account: &Account) -> Option<Write> {
    let subject = account.subject_of.as_ref()?;
    Some(Write::new(Stmt::guard(
        "INSERT INTO accounts (id, email, email_verified, phone, phone_verified, roles, created_at, \
         subject_client_id, external_id, subject_email) \
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        params![
            account.id.to_string(),
            placeholder_email(account.id).as_str(),
            account.email_verified,
            account.phone.as_ref().map(Phone::as_str),
            account.phone_verified,
            to_millis(account.created_at),
            subject.client_id.as_str(),
            subject.external_id.as_str(),
            stated_email(account),
        ],
    )))
}

/// Replaces what a subject's product states of it: its address and number, and whether each
/// was proven.
pub fn set_subject_contact(account: &Account) -> Write {
    Write::new(Stmt::guard(
        "UPDATE accounts SET subject_email = $2, email_verified = $3, phone = $4, phone_verified = $5 \
         WHERE id = $1 AND subject_client_id IS NOT NULL",
        params![
            account.id.to_string(),
            stated_email(account),
            account.email_verified,
            account.phone.as_ref().map(Phone::as_str),
            account.phone_verified,
        ],
    ))
}

/// Deletes every subject of a client (a deleted client's people), with what cascades from them.
pub fn delete_subjects_of(client_id: &str) -> Write {
    Write::new(Stmt::new(
        "DELETE FROM accounts WHERE subject_client_id = $1",
        params![client_id],
    ))
}

impl Store {
    /// The subject a client knows by this identifier.
    pub async fn subject(
        &self,
        client_id: &str,
        external_id: &ExternalId,
    ) -> Result<Option<Account>> {
        const SQL: &str = "SELECT id, email, email_verified, phone, phone_verified, password_hash, roles, created_at, sso_provider, \
     subject_client_id, external_id, subject_email FROM accounts WHERE subject_client_id = $1 AND external_id = $2";
        let rows = self
            .db
            .query(SQL, params![client_id, external_id.as_str()])
            .await?;
        rows.first().map(account_from_row).transpose()
    }
}
