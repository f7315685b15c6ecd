//! Deadbolt as an OpenID Connect provider: the authorization code flow over the hosted sign-in
//! (with PKCE, consent for third-party clients, and step-up for `acr_values` and `max_age`),
//! the token endpoint with rotating refresh tokens, userinfo, revocation, introspection and
//! RP-initiated logout. The rules of what a request may ask for and when a session serves it
//! are `deadbolt_core::oidc`'s; the clients are [`crate::clients`]'.

pub mod authorize;
mod client_auth;
pub mod consent;
mod error;
pub mod exchange;
mod jws_shim;
pub mod logout;
pub mod revocation;
pub mod tokens;
pub mod userinfo;

pub use client_auth::ClientCredentials;
pub use error::{OAuthError, OidcError, OidcResult};

/// The issuer: the public URL without a trailing slash, exactly as the discovery document and
/// every token say it.
pub fn issuer(ctx: &crate::Context) -> String {
    ctx.config
        .server
        .public_url
        .trim_end_matches('/')
        .to_owned()
}
