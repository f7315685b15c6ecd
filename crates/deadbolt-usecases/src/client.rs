//! Who a use case acts for: the client a request came from, and the signed-in caller (or, for
//! the server API, a client acting for one of its subjects).

use crate::claims::AccessClaims;
use deadbolt_core::ids::AccountId;
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

/// A client acting for one of its subjects on the authority of its own credentials (the server
/// API): the subject's account, found under that client.
/// Made only where the subject was found under the client (`subject_api::subject`).
#[derive(Debug, Clone)]
pub struct ForSubject {
    client_id: String,
    account: AccountId,
}

impl ForSubject {
    pub(crate) fn new(client_id: String, account: AccountId) -> Self {
        Self { client_id, account }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn account(&self) -> AccountId {
        self.account
    }
}

/// Who changes an account's second factors.
///
/// A session's step-up guards what outlives the session (a thief holding a session must not
/// plant a factor or remove one); a client's server credentials are another authority, one
/// that can already delete the subject and create it anew, so no session grant is asked of
/// it. Every other rule (factor policy, confirmation by code, limits, notices, events) holds
/// for both.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in caller, on its own account.
    Session(&'a Principal),
    /// A client, on one of its subjects.
    Client(&'a ForSubject),
}

impl<'a> From<&'a Principal> for Actor<'a> {
    fn from(who: &'a Principal) -> Self {
        Self::Session(who)
    }
}

impl<'a> From<&'a ForSubject> for Actor<'a> {
    fn from(who: &'a ForSubject) -> Self {
        Self::Client(who)
    }
}

impl Actor<'_> {
    /// The account acted on.
    pub fn account_id(&self) -> AccountId {
        match self {
            Self::Session(who) => who.session.account_id,
            Self::Client(who) => who.account,
        }
    }
}
