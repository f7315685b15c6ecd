//! Building security events with time and place.

use crate::extract::ClientInfo;
use crate::state::AppState;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, EventId};
use deadbolt_store::EventRecord;

pub fn event(
    state: &AppState,
    kind: EventKind,
    account: Option<AccountId>,
    client: &ClientInfo,
    detail: serde_json::Value,
) -> EventRecord {
    EventRecord {
        id: EventId::generate(state.rng.as_ref()),
        account_id: account,
        kind,
        at: state.clock.now(),
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        detail,
    }
}
