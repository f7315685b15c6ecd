//! Who a use case acts for: the client a request came from, and the signed-in caller.

use crate::claims::AccessClaims;
use deadbolt_store::SessionRecord;
use std::net::IpAddr;

/// Where a request came from: its address (the TCP peer, or the client a trusted proxy names)
/// and what it says it is.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A signed-in caller: a valid access token whose session is still live.
#[derive(Debug, Clone)]
pub struct Principal {
    pub claims: AccessClaims,
    pub session: SessionRecord,
}
