//! The rules' error type: what went wrong in terms a caller can act on.

use time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    #[error("invalid email address")]
    InvalidEmail,
    #[error("invalid phone number: expected E.164, like +12015550123")]
    InvalidPhone,
    #[error("password too weak: {0}")]
    WeakPassword(String),
    #[error("invalid action name: use [a-z0-9_.]+, at most 64 long")]
    InvalidAction,
    #[error("a name must be 1 to 64 characters, without control characters")]
    InvalidName,
    #[error("role must be owner, admin or member")]
    InvalidRole,
    #[error("sso_provider must be 1 to 64 of [a-z0-9_.-]")]
    InvalidSsoProvider,
    /// An input field that breaks its rule: the field (`redirect_uris[1]`) and why.
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("too many attempts; retry in {} s", .0.whole_seconds())]
    Throttled(Duration),
}
