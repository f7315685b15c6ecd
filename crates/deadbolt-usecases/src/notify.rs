//! Security notifications: the user hears of what matters on their account, by email (and by
//! SMS to a phone number that was just replaced). The words live in `templates/messages/`.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::messages::{Facts, Medium};
use crate::notice::Notice;
use deadbolt_core::account::Account;
use deadbolt_core::ids::MessageId;
use deadbolt_store::{OutboxMessage, SealedMessage};

/// The email telling `account` of `notice`, with when and from where; none for a client's
/// subject whose product gave no proven address (its product hears of it through the events).
pub fn notice(
    ctx: &Context,
    account: &Account,
    notice: Notice,
    client: &ClientInfo,
) -> DomainResult<Option<SealedMessage>> {
    // a subject's address is its product's word: notices (with where and from what) go only
    // to one the product says it proved
    if !account.has_email() || (account.subject_of.is_some() && !account.email_verified) {
        return Ok(None);
    }
    notice_to(ctx, Medium::Email, account.email.as_str(), notice, client).map(Some)
}

/// `notice` sent to `recipient` (an address or a number, as `medium` needs).
pub fn notice_to(
    ctx: &Context,
    medium: Medium,
    recipient: &str,
    notice: Notice,
    client: &ClientInfo,
) -> DomainResult<SealedMessage> {
    let now = ctx.clock.now();
    let when = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default();
    let from = client
        .ip
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    // described in words of our own: the header is the client's, and may be an attacker's
    let device = client
        .user_agent
        .as_deref()
        .filter(|_| matches!(notice, Notice::NewDevice | Notice::DeviceSignedIn))
        .map(deadbolt_core::user_agent::describe);
    let facts = Facts {
        when: &when,
        from: &from,
        device: device.as_deref(),
    };
    let rendered = ctx
        .messages
        .notice(medium, notice.key(), &facts)
        .map_err(DomainError::Internal)?;
    Ok(OutboxMessage {
        id: MessageId::generate(ctx.rng.as_ref()),
        channel: medium.channel().to_owned(),
        recipient: recipient.to_owned(),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        attempts: 0,
        created_at: now,
    }
    .seal(ctx.outbox_keys.as_ref())?)
}
