//! The token endpoint: an authorization code (single use, 60 s, bound to its client, redirect
//! URI and PKCE verifier) or a refresh token (rotated at each use; one presented twice ends
//! its grant) for a client's tokens.

use super::client_auth::{self, ClientCredentials};
use super::error::{OAuthError, OidcResult};
use super::tokens::{self, Issued};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::events::event;
use deadbolt_core::event::EventKind;
use deadbolt_core::oidc_client::Grant;
use deadbolt_core::secret::Secret;
use deadbolt_core::token;
use deadbolt_core::{device_grant, oidc};
use deadbolt_store::{AuthorizationCodeRecord, BatchOutcome, ClientRecord, OidcGrantRecord, Write};
use serde_json::json;

/// Every refresh token a client is given starts so.
const REFRESH_PREFIX: &str = "ort_";

/// The token request's form, unchecked.
#[derive(Default, serde::Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub device_code: Option<String>,
}

impl std::fmt::Debug for TokenParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // codes, verifiers and refresh tokens are secrets
        f.debug_struct("TokenParams")
            .field("grant_type", &self.grant_type)
            .finish_non_exhaustive()
    }
}

/// Answers a token request.
pub async fn exchange(
    ctx: &Context,
    info: &ClientInfo,
    creds: &ClientCredentials,
    params: TokenParams,
) -> OidcResult<Issued> {
    let client = client_auth::authenticate(ctx, creds).await?;
    let allowed = |g: Grant| client.grants.iter().any(|c| c == g.as_str());
    match params.grant_type.as_deref() {
        Some("authorization_code") if allowed(Grant::AuthorizationCode) => {
            by_code(ctx, info, &client, params).await
        }
        Some("refresh_token") if allowed(Grant::RefreshToken) => {
            by_refresh(ctx, info, &client, params).await
        }
        Some(device_grant::GRANT_TYPE) if allowed(Grant::DeviceCode) => {
            super::device::poll(ctx, info, &client, params.device_code).await
        }
        Some("authorization_code" | "refresh_token" | device_grant::GRANT_TYPE) => {
            Err(OAuthError::new(
                "unauthorized_client",
                "this client may not use this grant type",
            )
            .into())
        }
        Some(_) => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type: authorization_code, refresh_token or the device code grant",
        )
        .into()),
        None => Err(OAuthError::invalid_request("grant_type is required").into()),
    }
}

fn bad_code() -> OAuthError {
    OAuthError::invalid_grant("the code is invalid, expired, used, or was issued to another client")
}

async fn by_code(
    ctx: &Context,
    info: &ClientInfo,
    client: &ClientRecord,
    params: TokenParams,
) -> OidcResult<Issued> {
    let presented = params
        .code
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .map(Secret::new)
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let now = ctx.clock.now();
    let code = super::find_hashed(
        ctx,
        &presented,
        |h| async move { ctx.store.oidc_code(&h).await },
    )
    .await?
    .map(|(_, code)| code)
    .ok_or_else(bad_code)?;
    if code.client_id != client.client_id {
        return Err(bad_code().into());
    }
    if code.used_at.is_some() {
        // a code seen twice was stolen or replayed: what its first use gave goes
        revoke_after_reuse(ctx, info, &code, code.grant_id.as_deref()).await?;
        return Err(bad_code().into());
    }
    if code.expires_at <= now {
        return Err(bad_code().into());
    }
    if params.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )
        .into());
    }
    match (&code.code_challenge, params.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if oidc::verifies_s256(verifier, challenge) => {}
        (None, None) => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            )
            .into())
        }
    }
    let session = ctx
        .store
        .session(code.session_id)
        .await?
        .filter(|s| ctx.config.session.is_live(&s.times(), now))
        .ok_or_else(bad_code)?;
    let account = ctx
        .store
        .account_by_id(code.account_id)
        .await?
        .ok_or_else(bad_code)?;
    let grant = OidcGrantRecord {
        id: deadbolt_core::ids::EventId::generate(ctx.rng.as_ref())
            .0
            .to_string(),
        client_id: client.client_id.clone(),
        account_id: account.id,
        session_id: session.id,
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        amr: code.amr.clone(),
        acr: code.acr.clone(),
        created_at: now,
        revoked_at: None,
    };
    let refresh = new_refresh(ctx, client);
    let refresh_hash = refresh.as_ref().map(|r| ctx.keys.hasher().hash_token(r).0);
    // first: of two exchanges of one code racing, one alone issues tokens
    let mut writes = vec![AuthorizationCodeRecord::spend(&code.hash, &grant.id, now)];
    writes.extend(grant.insert(refresh_hash.as_ref().map(|h| h.as_slice())));
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => {}
        BatchOutcome::GuardFailed(_) => {
            let first = ctx.store.oidc_code(&code.hash).await?;
            let first_grant = first.as_ref().and_then(|c| c.grant_id.clone());
            revoke_after_reuse(ctx, info, &code, first_grant.as_deref()).await?;
            return Err(bad_code().into());
        }
    }
    tokens::issue(
        ctx,
        client,
        &account,
        &grant,
        &code.scope,
        code.nonce,
        refresh,
    )
}

/// A refresh token for a client allowed the refresh grant.
pub(super) fn new_refresh(ctx: &Context, client: &ClientRecord) -> Option<Secret> {
    client
        .grants
        .iter()
        .any(|g| g == Grant::RefreshToken.as_str())
        .then(|| token::generate(REFRESH_PREFIX, ctx.rng.as_ref()))
}

/// Ends the grant a reused code or refresh token gave, and records why.
async fn revoke_after_reuse(
    ctx: &Context,
    info: &ClientInfo,
    code: &AuthorizationCodeRecord,
    grant_id: Option<&str>,
) -> OidcResult<()> {
    revoke_grant_for_reuse(
        ctx,
        info,
        code.account_id,
        &code.client_id,
        grant_id,
        "code",
    )
    .await
}

async fn revoke_grant_for_reuse(
    ctx: &Context,
    info: &ClientInfo,
    account: deadbolt_core::ids::AccountId,
    client_id: &str,
    grant_id: Option<&str>,
    what: &str,
) -> OidcResult<()> {
    let now = ctx.clock.now();
    tracing::warn!(
        client_id,
        what,
        "an OpenID Connect {what} came back after use; its grant is revoked"
    );
    let reused = event(
        ctx,
        EventKind::OidcTokenReused,
        Some(account),
        info,
        json!({"client_id": client_id, "token": what}),
    );
    let mut writes: Vec<Write> = grant_id
        .map(|id| OidcGrantRecord::revoke(id, now))
        .into_iter()
        .collect();
    writes.push(reused.write());
    ctx.commit(writes).await?;
    Ok(())
}

/// Ends a grant whose refresh token came back after use.
async fn refresh_reused(
    ctx: &Context,
    info: &ClientInfo,
    grant: &OidcGrantRecord,
) -> OidcResult<()> {
    revoke_grant_for_reuse(
        ctx,
        info,
        grant.account_id,
        &grant.client_id,
        Some(&grant.id),
        "refresh_token",
    )
    .await
}

async fn by_refresh(
    ctx: &Context,
    info: &ClientInfo,
    client: &ClientRecord,
    params: TokenParams,
) -> OidcResult<Issued> {
    let bad = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let presented = params
        .refresh_token
        .filter(|t| t.starts_with(REFRESH_PREFIX) && t.len() <= 128)
        .map(Secret::new)
        .ok_or_else(bad)?;
    let now = ctx.clock.now();
    let found = super::find_hashed(ctx, &presented, |h| async move {
        ctx.store.oidc_refresh_token(&h).await
    })
    .await?;
    let Some((hash, (grant_id, used))) = found else {
        return Err(bad().into());
    };
    let Some(grant) = ctx.store.oidc_grant(&grant_id).await? else {
        return Err(bad().into());
    };
    if grant.client_id != client.client_id {
        return Err(bad().into());
    }
    if used {
        if grant.revoked_at.is_none() {
            refresh_reused(ctx, info, &grant).await?;
        }
        return Err(bad().into());
    }
    let grant = tokens::live_grant(ctx, &grant.id, now)
        .await?
        .ok_or_else(bad)?;
    // a refresh may narrow the scope, never widen it (RFC 6749 section 6)
    let scope = match params.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        None => grant.scope.clone(),
        Some(asked) => {
            let narrowed: Vec<&str> = asked.split_whitespace().collect();
            if narrowed
                .iter()
                .any(|s| !grant.scope.split_whitespace().any(|g| g == *s))
            {
                return Err(
                    OAuthError::new("invalid_scope", "scope: more than was granted").into(),
                );
            }
            grant
                .scope
                .split_whitespace()
                .filter(|g| narrowed.contains(g))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let account = ctx
        .store
        .account_by_id(grant.account_id)
        .await?
        .ok_or_else(bad)?;
    // no location rule here: the caller is the client's server, not the person's browser,
    // whose place was judged at sign-in and is judged again on each visit to the pages
    let next = token::generate(REFRESH_PREFIX, ctx.rng.as_ref());
    let next_hash = ctx.keys.hasher().hash_token(&next);
    let mut writes = OidcGrantRecord::rotate_refresh(&grant.id, &hash, &next_hash.0, now);
    // a client's use keeps the browser session it came from alive
    writes.push(deadbolt_store::touch_session(grant.session_id, now));
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => {}
        BatchOutcome::GuardFailed(_) => {
            // lost a race with another presentation of the same token: that is reuse too
            refresh_reused(ctx, info, &grant).await?;
            return Err(bad().into());
        }
    }
    tokens::issue(ctx, client, &account, &grant, &scope, None, Some(next))
}
