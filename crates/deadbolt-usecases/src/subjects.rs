//! Subjects: the people of a product that keeps its own accounts, named by the product's own
//! identifiers. A client creates and updates them by naming them (in a signed request, or
//! through the server API) and sees only its own; each is an account, so every factor, limit,
//! lockout, replay rule, notice and event applies to it as to Deadbolt's own accounts.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use deadbolt_core::account::Account;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::AccountId;
use deadbolt_core::phone::Phone;
use deadbolt_core::subject::{placeholder_email, ExternalId, SubjectOf};
use deadbolt_store::{insert_subject, set_subject_contact, BatchOutcome, Write};
use serde_json::json;

/// A subject as its product states it: a field that is present replaces what is stored, an
/// absent one leaves it (`null` clears an address or number).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectDetails {
    pub external_id: String,
    #[serde(default, with = "present")]
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
    #[serde(default, with = "present")]
    pub phone_number: Option<Option<String>>,
    pub phone_number_verified: Option<bool>,
}

/// `null` clears a field, absence leaves it: serde reads both as None without this.
mod present {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// A subject as it is after a change, and what writes it.
pub struct Prepared {
    pub account: Account,
    pub created: bool,
    pub writes: Vec<Write>,
}

/// The subject after `details`, with the writes that make it so (nothing where nothing
/// changes). Committed by the caller, with whatever else must go with it.
pub async fn prepare(
    ctx: &Context,
    info: &ClientInfo,
    client_id: &str,
    details: &SubjectDetails,
) -> DomainResult<Prepared> {
    let external_id = ExternalId::parse(&details.external_id)?;
    let stored = ctx.store.subject(client_id, &external_id).await?;
    let created = stored.is_none();
    let before = stored.unwrap_or_else(|| {
        let id = AccountId::generate(ctx.rng.as_ref());
        Account {
            id,
            email: placeholder_email(id),
            email_verified: false,
            phone: None,
            phone_verified: false,
            password_hash: None,
            roles: Vec::new(),
            created_at: ctx.clock.now(),
            sso_provider: None,
            subject_of: Some(SubjectOf {
                client_id: client_id.to_owned(),
                external_id: external_id.clone(),
            }),
        }
    });
    let mut after = before.clone();
    if let Some(email) = &details.email {
        after.email = match email {
            Some(raw) => Email::parse(raw)?,
            None => placeholder_email(after.id),
        };
        if after.email != before.email {
            after.email_verified = false;
        }
    }
    if let Some(phone) = &details.phone_number {
        after.phone = phone.as_deref().map(Phone::parse).transpose()?;
        if after.phone != before.phone {
            after.phone_verified = false;
        }
    }
    if let Some(v) = details.email_verified {
        after.email_verified = v && after.has_email();
    }
    if let Some(v) = details.phone_number_verified {
        after.phone_verified = v && after.phone.is_some();
    }
    let changed = created
        || after.email != before.email
        || after.email_verified != before.email_verified
        || after.phone != before.phone
        || after.phone_verified != before.phone_verified;
    let mut writes = Vec::new();
    if created {
        writes.extend(insert_subject(&after));
    } else if changed {
        writes.push(set_subject_contact(&after));
    }
    if changed {
        let kind = if created {
            EventKind::SubjectCreated
        } else {
            EventKind::SubjectUpdated
        };
        // the product's identifier is its own business: the event names the client and the
        // subject's account, masks the addresses
        let detail = json!({
            "client_id": client_id,
            "email": after.has_email().then(|| after.email.masked()),
            "phone": after.phone.as_ref().map(Phone::masked),
        });
        writes.push(event(ctx, kind, Some(after.id), info, detail).write());
    }
    Ok(Prepared {
        account: after,
        created,
        writes,
    })
}

/// Creates or updates a subject. Of two requests creating one subject at once, the second
/// reads what the first wrote and applies its change to it.
pub async fn put(
    ctx: &Context,
    info: &ClientInfo,
    client_id: &str,
    details: &SubjectDetails,
) -> DomainResult<Prepared> {
    for _ in 0..2 {
        let prepared = prepare(ctx, info, client_id, details).await?;
        if prepared.writes.is_empty() {
            return Ok(prepared);
        }
        match ctx.commit(prepared.writes.clone()).await? {
            BatchOutcome::Committed => return Ok(prepared),
            BatchOutcome::GuardFailed(_) => continue,
        }
    }
    // a third writer between each read and write: the client's race, told as such
    Err(DomainError::PreconditionFailed)
}

/// The client's subject with this identifier.
pub async fn find(ctx: &Context, client_id: &str, external_id: &str) -> DomainResult<Account> {
    let Ok(external_id) = ExternalId::parse(external_id) else {
        return Err(DomainError::NotFound);
    };
    ctx.store
        .subject(client_id, &external_id)
        .await?
        .ok_or(DomainError::NotFound)
}

/// Removes a client's subject, with everything Deadbolt kept for it (its factors, sessions,
/// trusted devices); its events stay, as a deleted account's do.
pub async fn delete(
    ctx: &Context,
    info: &ClientInfo,
    client_id: &str,
    external_id: &str,
) -> DomainResult<()> {
    let account = find(ctx, client_id, external_id).await?;
    let deleted = event(
        ctx,
        EventKind::SubjectDeleted,
        Some(account.id),
        info,
        json!({"client_id": client_id}),
    );
    match ctx
        .commit(vec![ctx.store.delete_account(account.id), deleted.write()])
        .await?
    {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}
