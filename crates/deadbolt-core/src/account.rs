//! Accounts and roles.

use crate::email::Email;
use crate::ids::AccountId;
use crate::password::PasswordHashString;
use crate::phone::Phone;
use crate::subject::SubjectOf;
use time::OffsetDateTime;

/// A role name: lower-case letters, digits and `_`, 1 to 32 long. `admin` is the one the service
/// itself gives meaning to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Role(String);

impl Role {
    pub const ADMIN: &'static str = "admin";

    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of an identity provider an account signs in through: 1 to 64 of `[a-z0-9_.-]`.
pub fn check_sso_provider(raw: &str) -> Result<(), crate::CoreError> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(crate::CoreError::InvalidSsoProvider)
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub email: Email,
    pub email_verified: bool,
    pub phone: Option<Phone>,
    pub phone_verified: bool,
    /// None for accounts that sign in elsewhere (SSO) or were created without one.
    pub password_hash: Option<PasswordHashString>,
    pub roles: Vec<Role>,
    pub created_at: OffsetDateTime,
    /// Set for accounts that sign in through an external identity provider: they have no
    /// password login here, and no second-factor challenge either (the provider does that).
    pub sso_provider: Option<String>,
    /// Set for a subject of a product that keeps its own accounts (a client's person): no
    /// sign-in at Deadbolt's own pages, only through that client's signed requests.
    pub subject_of: Option<SubjectOf>,
}

impl Account {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.as_str() == role)
    }

    /// The name a person knows the account by (in an authenticator app, say): its address,
    /// or a subject's own identifier at its product where the product gave no address.
    pub fn known_as(&self) -> &str {
        match &self.subject_of {
            Some(s) if !self.has_email() => s.external_id.as_str(),
            _ => self.email.as_str(),
        }
    }

    /// Whether second factors may be added to it. An account of ours must have proven its
    /// address first: whoever signs up with an address they do not own must gain nothing that
    /// survives its owner's claim on it (account pre-hijacking). A client's subject is the
    /// client's to vouch for: it exists only by the client's signed word.
    pub fn may_add_factors(&self) -> bool {
        self.email_verified || self.subject_of.is_some()
    }

    /// Whether mail can reach this account (a subject may have no address of its own).
    pub fn has_email(&self) -> bool {
        !crate::subject::is_placeholder(&self.email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert!(Role::parse("admin").is_some());
        assert!(Role::parse("team_lead2").is_some());
        assert!(Role::parse("Admin").is_none());
        assert!(Role::parse("").is_none());
        assert!(Role::parse("a-b").is_none());
    }
}
