//! Deadbolt as an OpenID Connect provider: the authorization code flow over the hosted sign-in
//! (with PKCE, consent for third-party clients, and step-up for `acr_values` and `max_age`),
//! the token endpoint with rotating refresh tokens, userinfo, revocation, introspection and
//! RP-initiated logout. The rules of what a request may ask for and when a session serves it
//! are `deadbolt_core::oidc`'s; the clients are [`crate::clients`]'.

pub mod authorize;
mod client_auth;
pub mod consent;
pub mod device;
mod error;
pub mod exchange;
pub mod logout;
pub mod request_object;
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

/// What the store holds under the keyed hash of `presented`, hashed under each key that may
/// have made it (a hashing-key rotation can fall between a code or refresh token and its use):
/// the hash it was found under, and the row.
pub(crate) async fn find_hashed<T, F, Fut>(
    ctx: &crate::Context,
    presented: &deadbolt_core::secret::Secret,
    lookup: F,
) -> OidcResult<Option<(Vec<u8>, T)>>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, deadbolt_store::StoreError>>,
{
    let now = ctx.clock.now();
    for k in ctx.keys.hashing().verifying(now) {
        let hash = k.hasher.hash_token(presented).0.to_vec();
        if let Some(found) = lookup(hash.clone()).await? {
            return Ok(Some((hash, found)));
        }
    }
    Ok(None)
}
