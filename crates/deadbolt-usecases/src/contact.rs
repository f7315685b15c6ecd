//! Changing where codes go: the account's email and phone. Both need a step-up first (whoever
//! controls them can receive codes), the new address is proven by a code sent to it before it
//! replaces the old one, and the old address is told.

use crate::challenge::CodeSent;
use crate::client::{ClientInfo, Principal};
use crate::codes::{self, Checked, CodeFor, Destination};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::messages::Medium;
use crate::notice::Notice;
use crate::notify::{notice, notice_to};
use crate::sessions::account_of;
use crate::stepup;
use deadbolt_core::account::Account;
use deadbolt_core::code::CodePurpose;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::phone::Phone;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_store::{
    end_resets, method_writes, spend_email_codes, BatchOutcome, StoreError, Write,
};
use serde_json::json;

/// Which of the account's addresses is changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    Email,
    Phone,
}

impl Contact {
    fn action(self) -> &'static str {
        match self {
            Self::Email => Action::EMAIL_CHANGE,
            Self::Phone => Action::PHONE_CHANGE,
        }
    }

    fn purpose(self) -> CodePurpose {
        match self {
            Self::Email => CodePurpose::ChangeEmail,
            Self::Phone => CodePurpose::ChangePhone,
        }
    }
}

/// Parses and checks the new address: well formed, and not the one the account already has.
fn new_destination(
    account: &Account,
    contact: Contact,
    raw: &str,
    sms_available: bool,
) -> DomainResult<Destination> {
    match contact {
        Contact::Email => {
            let email = Email::parse(raw)?;
            if email == account.email {
                return Err(DomainError::InvalidRequest(
                    "this is already the account's email".into(),
                ));
            }
            Ok(Destination {
                medium: Medium::Email,
                address: email.as_str().to_owned(),
            })
        }
        Contact::Phone => {
            let phone = Phone::parse(raw)?;
            if account.phone.as_ref() == Some(&phone) && account.phone_verified {
                return Err(DomainError::InvalidRequest(
                    "this is already the account's phone".into(),
                ));
            }
            if !sms_available {
                return Err(DomainError::FactorNotAllowed(
                    "this service has no SMS provider configured, so it cannot prove a number"
                        .into(),
                ));
            }
            Ok(Destination {
                medium: Medium::Sms,
                address: phone.as_str().to_owned(),
            })
        }
    }
}

/// Starts a change (step-up `email.change` / `phone.change`): a code goes to the new address.
/// Nothing changes until that code comes back.
pub async fn start(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    contact: Contact,
    raw: &str,
) -> DomainResult<CodeSent> {
    let account = account_of(ctx, who).await?;
    let to = new_destination(&account, contact, raw, ctx.config.sms.can_send())?;
    let grant = stepup::require(ctx, who, contact.action()).await?;
    // told only after the step-up: only someone who passed it learns whether an address is taken
    if contact == Contact::Email {
        let email = Email::parse(&to.address)?;
        if ctx.store.account_by_email(&email).await?.is_some() {
            return Err(DomainError::EmailTaken);
        }
    }
    let what = CodeFor::account(contact.purpose());
    codes::ready_to_send(ctx, &account, &what, &to)
        .await?
        .map_err(codes::refused)?;
    let requested = event(
        ctx,
        match contact {
            Contact::Email => EventKind::EmailChangeRequested,
            Contact::Phone => EventKind::PhoneChangeRequested,
        },
        Some(account.id),
        client,
        json!({"to": to.masked()}),
    );
    let mut writes = codes::code_writes(ctx, &account, client, &what, &to)?;
    writes.push(requested.write());
    // the send limits' guard is the only guard here: it lost a race with a parallel send
    if let BatchOutcome::GuardFailed(_) = stepup::commit_with(ctx, Some(grant), writes).await? {
        return Err(codes::refusal(ctx, &account, &what, &to).await?);
    }
    Ok(CodeSent {
        sent_to: to.masked(),
        resend_after: ctx.config.codes.resend_after_seconds,
    })
}

/// Completes a change with the code sent to the new address: it replaces the old one, which is
/// told (by email; a replaced phone also by text, where it was verified).
pub async fn confirm(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    contact: Contact,
    code: &Secret,
) -> DomainResult<Account> {
    let account = account_of(ctx, who).await?;
    let what = CodeFor::account(contact.purpose());
    let wrong_code = || {
        event(
            ctx,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"purpose": contact.purpose().as_str()}),
        )
        .write()
    };
    let reserved = codes::reserve_try(ctx, &account).await?;
    let sent = match codes::compare(ctx, &account, &what, code).await? {
        Checked::Right(sent) => {
            reserved.give_back_now(ctx).await?;
            sent
        }
        Checked::Wrong(counted) => {
            reserved.keep();
            ctx.commit(vec![counted, wrong_code()]).await?;
            return Err(DomainError::InvalidCode);
        }
        Checked::Dead => {
            reserved.keep();
            ctx.commit(vec![wrong_code()]).await?;
            return Err(DomainError::InvalidCode);
        }
    };
    let new_address = sent.destination.clone().ok_or_else(|| {
        DomainError::Internal(anyhow::anyhow!("change code without a destination"))
    })?;
    let now = ctx.clock.now();
    let mut writes: Vec<Write> = vec![sent.consume(now)];
    let (kind, detail) = match contact {
        Contact::Email => {
            let email = Email::parse(&new_address)?;
            writes.push(ctx.store.set_email(account.id, &email));
            writes.push(method_writes::follow_email(account.id, &email));
            // what went to the old address (a reset code, say) stops working with it
            writes.push(spend_email_codes(account.id, now));
            writes.push(end_resets(account.id, now));
            // the old address hears of it: someone with the password and a second factor
            // could otherwise take the account quietly
            writes.extend(notice(ctx, &account, Notice::EmailChanged, client)?.map(|m| m.write()));
            (
                EventKind::EmailChanged,
                json!({"from": account.email.masked(), "to": email.masked()}),
            )
        }
        Contact::Phone => {
            let phone = Phone::parse(&new_address)?;
            writes.push(ctx.store.set_phone(account.id, &phone));
            writes.extend(notice(ctx, &account, Notice::PhoneChanged, client)?.map(|m| m.write()));
            if let (Some(old), true) = (&account.phone, account.phone_verified) {
                if ctx.config.sms.can_send() {
                    writes.push(
                        notice_to(ctx, Medium::Sms, old.as_str(), Notice::PhoneChanged, client)?
                            .write(),
                    );
                }
            }
            (
                EventKind::PhoneChanged,
                json!({"from": account.phone.as_ref().map(Phone::masked), "to": phone.masked()}),
            )
        }
    };
    writes.push(event(ctx, kind, Some(account.id), client, detail).write());
    match ctx.commit(writes).await {
        Ok(BatchOutcome::Committed) => {}
        Ok(BatchOutcome::GuardFailed(_)) => return Err(DomainError::InvalidCode),
        // another account took the address meanwhile
        Err(StoreError::Conflict) => return Err(DomainError::EmailTaken),
        Err(e) => return Err(e.into()),
    }
    ctx.store
        .account_by_id(account.id)
        .await?
        .ok_or(DomainError::InvalidToken)
}
