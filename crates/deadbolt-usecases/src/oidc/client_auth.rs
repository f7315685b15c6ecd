//! Client authentication at the token, revocation and introspection endpoints: a confidential
//! client by its secret (`client_secret_basic` or `client_secret_post`), a public client by its
//! id alone (it proves itself with PKCE instead).

use super::error::{OAuthError, OidcResult};
use crate::context::Context;
use deadbolt_core::oidc_client::looks_like_a_client_id;
use deadbolt_core::secret::Secret;
use deadbolt_store::ClientRecord;

/// What a request presented to say which client it comes from.
#[derive(Debug, Default)]
pub struct ClientCredentials {
    /// From the Basic header, else from the form.
    pub client_id: Option<String>,
    pub secret: Option<Secret>,
    /// The form's `client_id`, when the Basic header also named one (they must agree).
    pub form_client_id: Option<String>,
    /// The secret came in the form although a Basic header was also sent (refused: RFC 6749
    /// allows one method per request).
    pub two_methods: bool,
}

/// The live client the credentials prove, or `invalid_client`.
pub(crate) async fn authenticate(
    ctx: &Context,
    creds: &ClientCredentials,
) -> OidcResult<ClientRecord> {
    if creds.two_methods {
        return Err(
            OAuthError::invalid_request("use one client authentication method, not two").into(),
        );
    }
    if let (Some(a), Some(b)) = (&creds.client_id, &creds.form_client_id) {
        if a != b {
            return Err(OAuthError::invalid_client().into());
        }
    }
    let Some(id) = creds
        .client_id
        .as_deref()
        .filter(|id| looks_like_a_client_id(id))
    else {
        return Err(OAuthError::invalid_client().into());
    };
    let client = ctx
        .store
        .client(id)
        .await?
        .ok_or_else(OAuthError::invalid_client)?;
    let proven = match (&client.secret_hash, &creds.secret) {
        // a public client presents no secret
        (None, None) => client.public,
        (Some(stored), Some(secret)) => {
            // the secret keeps the hashing key it was made with for as long as it lives
            let hashing = ctx.keys.hashing();
            let matched = hashing
                .all()
                .filter(|k| client.hash_key_id.as_deref().is_none_or(|id| id == k.id))
                .any(|k| k.hasher.hash_token(secret).matches(stored));
            matched
        }
        _ => false,
    };
    if proven {
        Ok(client)
    } else {
        Err(OAuthError::invalid_client().into())
    }
}
