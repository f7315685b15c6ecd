//! Building security events with time and place.

use crate::client::ClientInfo;
use crate::context::Context;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, EventId};
use deadbolt_store::EventRecord;

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
