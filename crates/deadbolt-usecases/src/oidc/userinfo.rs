//! The userinfo endpoint: the claims about the signed-in account that the access token's
//! scopes allow.

use super::error::{OAuthError, OidcResult};
use super::tokens::{account_claims, live_access_token, subject_identifier};
use crate::context::Context;
use serde_json::{Map, Value};

/// The claims for a live access token that was issued with `openid`.
pub async fn userinfo(ctx: &Context, access_token: &str) -> OidcResult<Map<String, Value>> {
    let (claims, grant) = live_access_token(ctx, access_token).await?;
    if !claims.scope.split_whitespace().any(|s| s == "openid") {
        return Err(
            OAuthError::new("insufficient_scope", "the token was not issued with openid").into(),
        );
    }
    let account = ctx
        .store
        .account_by_id(grant.account_id)
        .await?
        .ok_or_else(OAuthError::invalid_token)?;
    let mut out = Map::new();
    out.insert("sub".into(), subject_identifier(&account).into());
    out.extend(account_claims(&account, &claims.scope));
    Ok(out)
}
