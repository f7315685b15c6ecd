//! Token revocation (RFC 7009) and introspection (RFC 7662). Revoking either token of a grant
//! ends the grant: its refresh tokens stop working and its access tokens introspect inactive.

use super::client_auth::{self, ClientCredentials};
use super::error::{OAuthError, OidcResult};
use super::tokens::live_access_token;
use crate::context::Context;
use deadbolt_core::secret::Secret;
use deadbolt_store::OidcGrantRecord;
use serde_json::{json, Value};

/// The grant a refresh token belongs to, whether or not it is still live.
async fn grant_of_refresh(ctx: &Context, token: &Secret) -> OidcResult<Option<OidcGrantRecord>> {
    if token.expose().len() > 128 {
        return Ok(None);
    }
    let found = super::find_hashed(ctx, token, |h| async move {
        ctx.store.oidc_refresh_token(&h).await
    })
    .await?;
    match found {
        // a spent token is no longer the grant's to revoke or describe
        Some((_, (grant_id, false))) => Ok(ctx.store.oidc_grant(&grant_id).await?),
        _ => Ok(None),
    }
}

/// Revokes `token` for the client that presents it. A token that is unknown, already revoked,
/// or another client's is answered the same way (RFC 7009 section 2.2): nothing to do.
pub async fn revoke(
    ctx: &Context,
    creds: &ClientCredentials,
    token: Option<String>,
) -> OidcResult<()> {
    let client = client_auth::authenticate(ctx, creds).await?;
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let grant_id = match live_access_token(ctx, &token).await {
        Ok((claims, _)) => Some((claims.grant_id, claims.client_id)),
        Err(_) => grant_of_refresh(ctx, &Secret::new(token))
            .await?
            .map(|g| (g.id, g.client_id)),
    };
    if let Some((id, owner)) = grant_id {
        if owner == client.client_id {
            ctx.commit(vec![OidcGrantRecord::revoke(&id, ctx.clock.now())])
                .await?;
        }
    }
    Ok(())
}

/// Describes `token` to a confidential client (a resource server registers as one): active
/// with its claims, or only `{"active": false}`.
pub async fn introspect(
    ctx: &Context,
    creds: &ClientCredentials,
    token: Option<String>,
) -> OidcResult<Value> {
    let client = client_auth::authenticate(ctx, creds).await?;
    if client.public {
        return Err(OAuthError::invalid_client().into());
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // a token is described only to the client it was issued to (RFC 7662 section 4): another
    // client learns nothing from one it got hold of
    let inactive = json!({"active": false});
    if let Ok((c, _)) = live_access_token(ctx, &token).await {
        if c.client_id != client.client_id {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true, "token_type": "Bearer", "scope": c.scope,
            "client_id": c.client_id, "sub": c.sub, "aud": c.aud, "iss": c.iss,
            "exp": c.exp, "iat": c.iat, "auth_time": c.auth_time, "acr": c.acr, "amr": c.amr,
            "sid": c.sid, "jti": c.jti,
        }));
    }
    let Some(grant) = grant_of_refresh(ctx, &Secret::new(token))
        .await?
        .filter(|g| g.client_id == client.client_id)
    else {
        return Ok(inactive);
    };
    let now = ctx.clock.now();
    if super::tokens::live_grant(ctx, &grant.id, now)
        .await?
        .is_none()
    {
        return Ok(inactive);
    }
    let Some(account) = ctx.store.account_by_id(grant.account_id).await? else {
        return Ok(inactive);
    };
    Ok(json!({
        "active": true, "scope": grant.scope,
        "client_id": grant.client_id, "sub": super::tokens::subject_identifier(&account),
        "iss": super::issuer(ctx), "iat": grant.created_at.unix_timestamp(),
        "auth_time": grant.auth_time.unix_timestamp(), "acr": grant.acr, "amr": grant.amr,
        "sid": grant.session_id.to_string(),
    }))
}
