//! Sessions: starting one, rotating its refresh token, authenticating its access tokens, and
//! ending it.

use crate::client::{Actor, ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::jwt::{self, AccessClaims};
use deadbolt_core::account::Account;
use deadbolt_core::auth::{self, AuthMethod};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{SessionId, SessionId as Sid};
use deadbolt_core::secret::Secret;
use deadbolt_core::session::{decide_refresh, RefreshDecision};
use deadbolt_core::token;
use deadbolt_store::{EventRecord, RefreshOutcome, SessionRecord};
use serde_json::json;
use time::OffsetDateTime;

/// A fresh token pair.
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Secret,
    pub expires_in: i64,
    pub session_id: SessionId,
    /// The session may only enroll a second factor (policy requires one the account lacks).
    pub enrollment_required: bool,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // bearer tokens are secrets: never in Debug output
        f.debug_struct("IssuedTokens")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

const REFRESH_PREFIX: &str = "rt_";

/// Starts a session for an account that just proved itself with `methods`.
pub async fn start(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    methods: &[AuthMethod],
    events: Vec<EventRecord>,
    extra: Vec<deadbolt_store::Write>,
    enrollment_only: bool,
) -> DomainResult<IssuedTokens> {
    let (mut session, refresh, _) = prepare(ctx, client, account, methods);
    session.enrollment_only = enrollment_only;
    let hash = ctx.keys.hasher().hash_token(&refresh);
    let mut writes = session.writes(&hash.0);
    writes.extend(events.iter().map(EventRecord::write));
    writes.extend(extra);
    ctx.commit(writes).await?;
    issue(ctx, &session, refresh, session.created_at)
}

/// A new session and the writes that store it, for a caller to commit with its own writes.
pub fn prepare(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    methods: &[AuthMethod],
) -> (SessionRecord, Secret, Vec<deadbolt_store::Write>) {
    prepare_limited(ctx, client, account, methods, false)
}

/// As [`prepare`], for a session that may be limited to enrolling a second factor.
pub fn prepare_limited(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
    methods: &[AuthMethod],
    enrollment_only: bool,
) -> (SessionRecord, Secret, Vec<deadbolt_store::Write>) {
    let now = ctx.clock.now();
    let session = SessionRecord {
        id: Sid::generate_ordered(ctx.rng.as_ref(), now),
        account_id: account.id,
        created_at: now,
        last_active_at: now,
        revoked_at: None,
        auth_time: now,
        amr: auth::amr(methods),
        acr: auth::acr(methods).to_owned(),
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        enrollment_only,
    };
    let refresh = token::generate(REFRESH_PREFIX, ctx.rng.as_ref());
    let hash = ctx.keys.hasher().hash_token(&refresh);
    let writes = session.writes(&hash.0);
    (session, refresh, writes)
}

/// Signs the access token of a stored session.
pub fn issue(
    ctx: &Context,
    session: &SessionRecord,
    refresh_token: Secret,
    now: OffsetDateTime,
) -> DomainResult<IssuedTokens> {
    let ttl = ctx.config.session.access_ttl();
    let claims = AccessClaims {
        iss: ctx.config.server.public_url.clone(),
        sub: session.account_id,
        aud: ctx.config.server.public_url.clone(),
        iat: now.unix_timestamp(),
        exp: (now + ttl).unix_timestamp(),
        jti: deadbolt_core::ids::EventId::generate(ctx.rng.as_ref()).0,
        sid: session.id,
        auth_time: session.auth_time.unix_timestamp(),
        amr: session.amr.clone(),
        acr: session.acr.clone(),
    };
    let access_token = jwt::sign(&ctx.keys, &claims)
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("signing: {e}")))?;
    Ok(IssuedTokens {
        access_token,
        refresh_token,
        expires_in: ttl.whole_seconds(),
        session_id: session.id,
        enrollment_required: session.enrollment_only,
    })
}

/// Exchanges a refresh token for a new pair. A token presented twice means a copy exists
/// somewhere: the session ends, for the thief and the owner alike. From a place policy does not
/// allow the account's roles, the exchange is refused as a sign-in would be.
pub async fn refresh(
    ctx: &Context,
    client: &ClientInfo,
    presented: Secret,
) -> DomainResult<IssuedTokens> {
    if !presented.expose().starts_with(REFRESH_PREFIX) || presented.expose().len() > 128 {
        return Err(DomainError::InvalidToken);
    }
    let now = ctx.clock.now();
    // a token hashed under a retired key is found until that key's end, and its successor is
    // hashed under the live one
    let mut found = None;
    for k in ctx.keys.hashing().verifying(now) {
        let hash = k.hasher.hash_token(&presented);
        if let Some(hit) = ctx.store.refresh_token(&hash.0).await? {
            found = Some((hash, hit));
            break;
        }
    }
    let Some((hash, (sid, used))) = found else {
        return Err(DomainError::InvalidToken);
    };
    let session = ctx
        .store
        .session(sid)
        .await?
        .ok_or(DomainError::InvalidToken)?;
    match decide_refresh(&ctx.config.session, Some(used), Some(&session.times()), now) {
        RefreshDecision::Rotate => {
            crate::risk::ensure_session_location_allowed(ctx, client, &session).await?;
            let next = token::generate(REFRESH_PREFIX, ctx.rng.as_ref());
            let next_hash = ctx.keys.hasher().hash_token(&next);
            let refreshed = event(
                ctx,
                EventKind::TokenRefreshed,
                Some(session.account_id),
                client,
                json!({"session_id": sid}),
            );
            match ctx
                .store
                .rotate_refresh(sid, &hash.0, &next_hash.0, now, refreshed)
                .await?
            {
                RefreshOutcome::Rotated => issue(ctx, &session, next, now),
                // lost a race with another presentation of the same token: that is reuse too
                RefreshOutcome::AlreadyUsed => Err(reuse_detected(ctx, client, &session).await),
            }
        }
        RefreshDecision::ReuseDetected => Err(reuse_detected(ctx, client, &session).await),
        RefreshDecision::Refuse => Err(DomainError::InvalidToken),
    }
}

async fn reuse_detected(
    ctx: &Context,
    client: &ClientInfo,
    session: &SessionRecord,
) -> DomainError {
    let now = ctx.clock.now();
    let reused = event(
        ctx,
        EventKind::RefreshTokenReused,
        Some(session.account_id),
        client,
        json!({"session_id": session.id}),
    );
    tracing::warn!(session_id = %session.id, "refresh token reused; session revoked");
    match ctx
        .store
        .revoke_session(session.account_id, session.id, now, reused)
        .await
    {
        Ok(_) => DomainError::InvalidToken,
        Err(e) => e.into(),
    }
}

/// The caller behind an access token: signature, issuer, audience and expiry hold, and the
/// session is still live (not revoked, not idle, within its absolute lifetime).
pub async fn authenticate(ctx: &Context, token: &str) -> DomainResult<Principal> {
    let now = ctx.clock.now();
    let url = &ctx.config.server.public_url;
    let claims =
        jwt::verify(&ctx.keys, token, url, url, now).map_err(|_| DomainError::InvalidToken)?;
    let session = ctx
        .store
        .session(claims.sid)
        .await?
        .ok_or(DomainError::InvalidToken)?;
    if session.account_id != claims.sub || !ctx.config.session.is_live(&session.times(), now) {
        return Err(DomainError::InvalidToken);
    }
    Ok(Principal { claims, session })
}

/// Gives the caller's session a new id, ending the old one, after a privilege change (a
/// step-up, a new password): an identifier seen or planted before the change is worth nothing
/// after it. The new id; None when the session ended meanwhile.
pub async fn renew(ctx: &Context, who: &Principal) -> DomainResult<Option<SessionId>> {
    let now = ctx.clock.now();
    let fresh = SessionId::generate_ordered(ctx.rng.as_ref(), now);
    Ok(
        match ctx
            .commit(deadbolt_store::renew_session(who.session.id, fresh, now))
            .await?
        {
            deadbolt_store::BatchOutcome::Committed => Some(fresh),
            deadbolt_store::BatchOutcome::GuardFailed(_) => None,
        },
    )
}

/// Ends the caller's session.
pub async fn logout(ctx: &Context, client: &ClientInfo, who: &Principal) -> DomainResult<()> {
    let e = event(
        ctx,
        EventKind::LoggedOut,
        Some(who.session.account_id),
        client,
        json!({"session_id": who.session.id}),
    );
    ctx.store
        .revoke_session(who.session.account_id, who.session.id, ctx.clock.now(), e)
        .await?;
    Ok(())
}

/// The caller's live sessions, newest first.
pub async fn list(ctx: &Context, who: &Principal) -> DomainResult<Vec<SessionRecord>> {
    let now = ctx.clock.now();
    let all = ctx.store.unrevoked_sessions(who.session.account_id).await?;
    Ok(all
        .into_iter()
        .filter(|s| ctx.config.session.is_live(&s.times(), now))
        .collect())
}

/// Ends one of the caller's sessions; `NotFound` for anything not theirs or already ended.
pub async fn revoke(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: SessionId,
) -> DomainResult<()> {
    let e = event(
        ctx,
        EventKind::SessionRevoked,
        Some(who.session.account_id),
        client,
        json!({"session_id": id}),
    );
    if ctx
        .store
        .revoke_session(who.session.account_id, id, ctx.clock.now(), e)
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::NotFound)
    }
}

/// The caller's account; gone (deleted meanwhile) is an invalid token.
pub async fn account_of(ctx: &Context, who: &Principal) -> DomainResult<Account> {
    ctx.store
        .account_by_id(who.session.account_id)
        .await?
        .ok_or(DomainError::InvalidToken)
}

/// The account `actor` acts on: the caller's own, or the client's subject while it is still
/// that client's (404 once it is gone).
pub async fn account_for(ctx: &Context, actor: Actor<'_>) -> DomainResult<Account> {
    match actor {
        Actor::Session(who) => account_of(ctx, who).await,
        Actor::Client(who) => ctx
            .store
            .account_by_id(who.account())
            .await?
            .filter(|a| {
                a.subject_of
                    .as_ref()
                    .is_some_and(|s| s.client_id == who.client_id())
            })
            .ok_or(DomainError::NotFound),
    }
}

/// Idle time is counted from the last visit; note visits at most once a minute.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

/// The signed-in browser whose session cookie names `sid`: its caller and account, while the
/// session is live and the account may sign in from where the browser is; the visit is noted.
/// None otherwise (the hosted pages then show the sign-in page). `visit`: whether the request
/// is a person's visit, which keeps the session from idling out (a script's polling is not).
pub async fn browser_session(
    ctx: &Context,
    client: &ClientInfo,
    sid: SessionId,
    visit: bool,
) -> DomainResult<Option<(Principal, Account)>> {
    let now = ctx.clock.now();
    let Some(session) = ctx.store.session(sid).await? else {
        return Ok(None);
    };
    if !ctx.config.session.is_live(&session.times(), now) {
        return Ok(None);
    }
    let Some(account) = ctx.store.account_by_id(session.account_id).await? else {
        return Ok(None);
    };
    // where policy does not let the account's roles sign in, its page session is not kept
    // going either: the visitor is signed out there (and a sign-in is refused)
    if !crate::risk::session_location_allowed(ctx, client, &account) {
        return Ok(None);
    }
    if visit && now - session.last_active_at > TOUCH_EVERY {
        ctx.commit(vec![deadbolt_store::touch_session(sid, now)])
            .await?;
    }
    let claims = AccessClaims {
        iss: ctx.config.server.public_url.clone(),
        sub: session.account_id,
        aud: ctx.config.server.public_url.clone(),
        iat: now.unix_timestamp(),
        exp: now.unix_timestamp(),
        jti: uuid::Uuid::nil(),
        sid: session.id,
        auth_time: session.auth_time.unix_timestamp(),
        amr: session.amr.clone(),
        acr: session.acr.clone(),
    };
    Ok(Some((Principal { claims, session }, account)))
}
