//! Security events: building them with time and place, and reading an account's back.

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::DomainResult;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, EventId};
use deadbolt_store::{EventCursor, EventRecord};

pub fn event(
    ctx: &Context,
    kind: EventKind,
    account: Option<AccountId>,
    client: &ClientInfo,
    detail: serde_json::Value,
) -> EventRecord {
    let at = ctx.clock.now();
    EventRecord {
        id: EventId::generate_ordered(ctx.rng.as_ref(), at),
        account_id: account,
        kind,
        at,
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        detail,
    }
}

/// The caller's own security events, newest first: `limit` of them, before `before`.
pub async fn of_caller(
    ctx: &Context,
    who: &Principal,
    before: Option<EventCursor>,
    limit: u32,
) -> DomainResult<Vec<EventRecord>> {
    Ok(ctx
        .store
        .events_of(who.session.account_id, before, limit)
        .await?)
}
