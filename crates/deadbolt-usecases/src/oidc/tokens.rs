//! What a client is given: an ID token (signed with the client's algorithm), an access token
//! (an RFC 9068 JWT whose audience is the client, so that Deadbolt's own API never takes it
//! for one of its access tokens), and the claims about the account its scopes allow.

use super::error::{OAuthError, OidcResult};
use crate::context::Context;
use crate::error::DomainError;
use crate::jwt::{sign_with, verify_any};
use deadbolt_core::account::Account;
use deadbolt_core::oidc::ID_TOKEN_TTL;
use deadbolt_core::oidc_client::SigningAlg;
use deadbolt_store::{ClientRecord, OidcGrantRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Every refresh token a client is given starts so.
pub(super) const REFRESH_PREFIX: &str = "ort_";

/// A refresh token for a client allowed the refresh grant.
pub(super) fn new_refresh(
    ctx: &Context,
    client: &ClientRecord,
) -> Option<deadbolt_core::secret::Secret> {
    client
        .grants
        .iter()
        .any(|g| g == deadbolt_core::oidc_client::Grant::RefreshToken.as_str())
        .then(|| deadbolt_core::token::generate(REFRESH_PREFIX, ctx.rng.as_ref()))
}

/// The access token type of RFC 9068.
const ACCESS_TYP: &str = "at+jwt";

/// An access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcAccessClaims {
    pub iss: String,
    pub sub: String,
    /// The client: a resource server that takes these checks `client_id` or `aud`.
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    /// The grant it was issued from: revoking the grant ends it.
    pub grant_id: String,
}

/// An ID token's claims (OpenID Connect Core section 2), with the account's claims its scopes
/// allow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    pub azp: String,
    pub sid: String,
    #[serde(flatten)]
    pub account: Map<String, Value>,
}

/// What the token endpoint answers.
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    /// None when the scope (narrowed at a refresh) no longer holds `openid`.
    pub id_token: Option<String>,
    pub refresh_token: Option<deadbolt_core::secret::Secret>,
    pub scope: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // bearer tokens are secrets
        f.debug_struct("Issued")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The `sub` a client knows an account by: a subject's own identifier at its client (the
/// product's user id), else the account's id.
pub fn subject_identifier(account: &Account) -> String {
    match &account.subject_of {
        Some(s) => s.external_id.as_str().to_owned(),
        None => account.id.to_string(),
    }
}

/// The claims about `account` that `scope` allows (OpenID Connect Core section 5.4). A
/// subject without an address of its own has no `email` claim.
pub fn account_claims(account: &Account, scope: &str) -> Map<String, Value> {
    let mut m = Map::new();
    if has_scope(scope, "email") && account.has_email() {
        m.insert("email".into(), account.email.as_str().into());
        m.insert("email_verified".into(), account.email_verified.into());
    }
    if has_scope(scope, "phone") {
        if let Some(phone) = &account.phone {
            m.insert("phone_number".into(), phone.as_str().into());
            m.insert(
                "phone_number_verified".into(),
                account.phone_verified.into(),
            );
        }
    }
    m
}

fn signing_failed(e: serde_json::Error) -> DomainError {
    DomainError::Internal(anyhow::anyhow!("signing: {e}"))
}

/// Signs the tokens a grant gives its client now; `nonce` only for the code's exchange.
pub fn issue(
    ctx: &Context,
    client: &ClientRecord,
    account: &Account,
    grant: &OidcGrantRecord,
    scope: &str,
    nonce: Option<String>,
    refresh_token: Option<deadbolt_core::secret::Secret>,
) -> OidcResult<Issued> {
    let now = ctx.clock.now();
    let iss = super::issuer(ctx);
    let ttl = ctx.config.session.access_ttl();
    let sub = subject_identifier(account);
    let sid = grant.session_id.to_string();
    let access = OidcAccessClaims {
        iss: iss.clone(),
        sub: sub.clone(),
        aud: client.client_id.clone(),
        client_id: client.client_id.clone(),
        scope: scope.to_owned(),
        iat: now.unix_timestamp(),
        exp: (now + ttl).unix_timestamp(),
        jti: deadbolt_core::ids::EventId::generate(ctx.rng.as_ref())
            .0
            .to_string(),
        sid: sid.clone(),
        auth_time: grant.auth_time.unix_timestamp(),
        acr: grant.acr.clone(),
        amr: grant.amr.clone(),
        grant_id: grant.id.clone(),
    };
    let access_token =
        sign_with(&ctx.keys, SigningAlg::EdDsa, ACCESS_TYP, &access).map_err(signing_failed)?;
    let id = IdTokenClaims {
        iss,
        sub,
        aud: client.client_id.clone(),
        exp: (now + ID_TOKEN_TTL).unix_timestamp(),
        iat: now.unix_timestamp(),
        auth_time: grant.auth_time.unix_timestamp(),
        nonce,
        acr: grant.acr.clone(),
        amr: grant.amr.clone(),
        azp: client.client_id.clone(),
        sid,
        account: account_claims(account, scope),
    };
    let alg = SigningAlg::parse(&client.id_token_alg).unwrap_or_default();
    let id_token = match has_scope(scope, "openid") {
        true => Some(sign_with(&ctx.keys, alg, "JWT", &id).map_err(signing_failed)?),
        false => None,
    };
    Ok(Issued {
        access_token,
        expires_in: ttl.whole_seconds(),
        id_token,
        refresh_token,
        scope: scope.to_owned(),
    })
}

/// An access token this service issued to a client, checked whole: signature, type, issuer,
/// expiry, and that its grant, its session and its client are all still live. Anything else is
/// `invalid_token`.
pub async fn live_access_token(
    ctx: &Context,
    token: &str,
) -> OidcResult<(OidcAccessClaims, OidcGrantRecord)> {
    let now = ctx.clock.now();
    let (header, claims) = verify_any::<OidcAccessClaims>(&ctx.keys, token, now)
        .map_err(|_| OAuthError::invalid_token())?;
    if header.typ.as_deref() != Some(ACCESS_TYP)
        || claims.iss != super::issuer(ctx)
        || claims.exp <= now.unix_timestamp()
    {
        return Err(OAuthError::invalid_token().into());
    }
    let grant = live_grant(ctx, &claims.grant_id, now)
        .await?
        // the grant id is inside the signed token: the grant is the token's
        .filter(|g| g.client_id == claims.client_id)
        .ok_or_else(OAuthError::invalid_token)?;
    Ok((claims, grant))
}

/// The grant with this id while it, its browser session and its client are live.
pub(crate) async fn live_grant(
    ctx: &Context,
    grant_id: &str,
    now: OffsetDateTime,
) -> OidcResult<Option<OidcGrantRecord>> {
    let Some(grant) = ctx.store.oidc_grant(grant_id).await? else {
        return Ok(None);
    };
    if grant.revoked_at.is_some() {
        return Ok(None);
    }
    let session_live = ctx
        .store
        .session(grant.session_id)
        .await?
        .is_some_and(|s| ctx.config.session.is_live(&s.times(), now));
    let client_live = ctx.store.client(&grant.client_id).await?.is_some();
    Ok((session_live && client_live).then_some(grant))
}
