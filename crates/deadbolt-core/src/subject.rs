//! Subjects: the people of a product that keeps its own accounts. A client names each by its
//! own identifier; Deadbolt keeps their second factors, never a password of theirs.
//!
//! A subject's row is an account like any other (so that every factor, limit, lockout, replay
//! rule, notice and event applies unchanged), owned by one client: two clients' `42` are two
//! people. Its email is the product's to state, so it cannot take part in the one-account-per-
//! mailbox rule of Deadbolt's own accounts: the row holds a placeholder address that no mail can
//! reach and nobody can sign up with, and the product's address beside it.

use crate::email::Email;
use crate::ids::AccountId;
use crate::CoreError;

/// Who owns a subject account, and by which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectOf {
    pub client_id: String,
    pub external_id: ExternalId,
}

/// A product's identifier for one of its people: 1 to 255 bytes of UTF-8, none of them a
/// control or an invisible formatting character (it travels in URLs, tokens and logs, and may
/// be shown as an authenticator app's account name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX
            && !raw.chars().any(|c| c.is_control() || is_format(c))
            && raw.trim() == raw;
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CoreError::InvalidField {
                field: "external_id".into(),
                reason: "1 to 255 bytes, no control or formatting characters, no outer spaces"
                    .into(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Invisible characters that change how text shows (Unicode's format characters: bidirectional
/// overrides, zero-width ones, the byte order mark, the soft hyphen).
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The domain of subjects' placeholder addresses: `.invalid` is reserved (RFC 2606), so no
/// mail is ever delivered there and no one can prove such an address to sign up with it.
const PLACEHOLDER_DOMAIN: &str = "subject.deadbolt.invalid";

/// The address a subject's row holds in the email column, unique per account.
pub fn placeholder_email(account: AccountId) -> Email {
    Email::parse(&format!("{}@{PLACEHOLDER_DOMAIN}", account.0.simple()))
        .unwrap_or_else(|_| unreachable!("a uuid and a fixed domain make a valid address"))
}

/// Whether an address is a subject's placeholder (nothing may be sent to it).
pub fn is_placeholder(email: &Email) -> bool {
    email
        .as_str()
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain == PLACEHOLDER_DOMAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_bounded_and_printable() {
        assert!(ExternalId::parse("42").is_ok());
        assert!(ExternalId::parse("user:ada@example.com").is_ok());
        assert!(ExternalId::parse(&"x".repeat(255)).is_ok());
        assert!(ExternalId::parse(&"x".repeat(256)).is_err());
        assert!(ExternalId::parse("").is_err());
        assert!(ExternalId::parse("a\nb").is_err());
        assert!(ExternalId::parse(" 42").is_err());
        assert!(
            ExternalId::parse("ad\u{202E}min").is_err(),
            "a bidirectional override"
        );
        assert!(
            ExternalId::parse("a\u{200B}b").is_err(),
            "a zero-width space"
        );
        assert!(ExternalId::parse("zoë").is_ok());
    }

    #[test]
    fn placeholders_are_recognised_and_unique() {
        let a = AccountId(uuid::Uuid::from_u128(1));
        let b = AccountId(uuid::Uuid::from_u128(2));
        assert_ne!(placeholder_email(a), placeholder_email(b));
        assert!(is_placeholder(&placeholder_email(a)));
        assert!(!is_placeholder(&Email::parse("ada@example.com").unwrap()));
    }
}
