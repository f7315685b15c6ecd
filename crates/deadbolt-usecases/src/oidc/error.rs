//! Errors in OAuth's words (RFC 6749 section 5.2, RFC 6750, RFC 7009, RFC 7662): a code from
//! the standard and a sentence for the developer, never anything secret.

use crate::error::DomainError;
use std::borrow::Cow;

/// An error a client reads: `{"error": code, "error_description": description}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// The client did not prove who it is (401 at the token, revocation and introspection
    /// endpoints).
    pub fn invalid_client() -> Self {
        Self::new("invalid_client", "client authentication failed")
    }

    /// A bearer token that is not (or no longer) good (401 at userinfo).
    pub fn invalid_token() -> Self {
        Self::new(
            "invalid_token",
            "the access token is invalid, expired or revoked",
        )
    }
}

/// What an OpenID Connect use case can fail with: an OAuth error for the client, or a domain
/// error (a busy store, an internal fault) answered as the API answers it.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{}: {}", .0.code, .0.description)]
    OAuth(OAuthError),
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<OAuthError> for OidcError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<deadbolt_store::StoreError> for OidcError {
    fn from(e: deadbolt_store::StoreError) -> Self {
        Self::Domain(e.into())
    }
}

pub type OidcResult<T> = Result<T, OidcError>;
