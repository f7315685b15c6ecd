//! The device authorization grant (RFC 8628): a device asks for a sign-in and is given a
//! device code to poll with and a user code for its person; the person approves or denies it
//! on the device page, signed in there; the device's next poll is given tokens carrying the
//! approving sign-in's `amr` and `acr`, under a session of its own that the person sees (and
//! can end) among their sessions.
//!
//! Limits: starts are counted per address (each stores a request); wrong user codes per
//! account and per address, so that the code space (about 2^34.6) cannot be searched within a
//! code's ten minutes; polls that come too fast are told to slow down, and the interval grows.

use super::client_auth::{self, ClientCredentials};
use super::error::{OAuthError, OidcResult};
use super::tokens::{self, Issued};
use crate::attempts::{self, Bucket};
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use crate::risk;
use deadbolt_core::device_grant::{
    self, DeviceState, PollAnswer, UserCode, POLL_INTERVAL, REQUEST_TTL,
};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::SessionId;
use deadbolt_core::oidc_client::Grant;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_core::throttle::ThrottlePolicy;
use deadbolt_core::{oidc, token};
use deadbolt_store::{
    BatchOutcome, ClientRecord, DeviceAuthorizationRecord, DeviceDecision, OidcGrantRecord,
    SessionRecord,
};
use serde_json::json;
use time::OffsetDateTime;

/// Every device code starts so.
const DEVICE_CODE_PREFIX: &str = "odc_";

/// Attempts at a fresh user code when one drawn is taken (about one in 2^34.6 per live code).
const USER_CODE_DRAWS: usize = 4;

/// What a device is told to show and poll with.
pub struct Started {
    pub device_code: Secret,
    pub user_code: UserCode,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Starts a device's sign-in request (RFC 8628 section 3.1).
pub async fn start(
    ctx: &Context,
    info: &ClientInfo,
    creds: &ClientCredentials,
    scope: Option<&str>,
) -> OidcResult<Started> {
    let client = client_auth::authenticate(ctx, creds).await?;
    if !client
        .grants
        .iter()
        .any(|g| g == Grant::DeviceCode.as_str())
    {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client may not use the device authorization grant",
        )
        .into());
    }
    let scope = oidc::scopes(Some(scope.unwrap_or("openid")), &client.scopes)
        .map_err(|e| OAuthError::new("invalid_scope", e))?
        .join(" ");
    if let Some(ip) = info.ip {
        let bucket = Bucket {
            key: format!("device:start:ip:{ip}"),
            policy: ThrottlePolicy {
                max_failures: ctx.config.limits.device_authorizations_per_ip_per_minute,
                window: time::Duration::MINUTE,
            },
        };
        match attempts::reserve(ctx, vec![bucket]).await? {
            Ok(counted) => counted.keep(),
            Err(full) => {
                return Err(DomainError::TooManyAttempts {
                    retry_after: full.retry_after,
                }
                .into())
            }
        }
    }
    let now = ctx.clock.now();
    let place = risk::place_of(ctx, info).country;
    for _ in 0..USER_CODE_DRAWS {
        let device_code = token::generate(DEVICE_CODE_PREFIX, ctx.rng.as_ref());
        let user_code = UserCode::generate(ctx.rng.as_ref());
        let record = DeviceAuthorizationRecord {
            device_code_hash: ctx.keys.hasher().hash_token(&device_code).0.to_vec(),
            user_code_hash: user_code_hash(ctx, &user_code),
            client_id: client.client_id.clone(),
            scope: scope.clone(),
            state: DeviceState::Pending,
            interval: POLL_INTERVAL,
            last_polled_at: None,
            created_at: now,
            expires_at: now + REQUEST_TTL,
            ip: info.ip.map(|ip| ip.to_string()),
            user_agent: info.user_agent.clone(),
            place: place.clone(),
            decision: None,
        };
        if ctx.commit(vec![record.insert()]).await? == BatchOutcome::Committed {
            return Ok(Started {
                device_code,
                user_code,
                expires_in: REQUEST_TTL.whole_seconds(),
                interval: POLL_INTERVAL.whole_seconds(),
            });
        }
    }
    Err(DomainError::Internal(anyhow::anyhow!(
        "no free user code in {USER_CODE_DRAWS} draws"
    ))
    .into())
}

fn user_code_hash(ctx: &Context, code: &UserCode) -> Vec<u8> {
    user_code_hash_under(&ctx.keys.hasher(), code)
}

fn user_code_hash_under(hasher: &deadbolt_core::token::TokenHasher, code: &UserCode) -> Vec<u8> {
    hasher
        .hash(&[b"device-user-code", code.normalized().as_bytes()])
        .0
        .to_vec()
}

fn pending_error() -> OAuthError {
    OAuthError::new(
        "authorization_pending",
        "the person has not answered yet; poll again after the interval",
    )
}

/// A poll of the token endpoint with the device-code grant (RFC 8628 section 3.4).
pub(super) async fn poll(
    ctx: &Context,
    info: &ClientInfo,
    client: &ClientRecord,
    device_code: Option<String>,
) -> OidcResult<Issued> {
    let presented = device_code
        .filter(|c| c.starts_with(DEVICE_CODE_PREFIX) && c.len() <= 128)
        .map(Secret::new)
        .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    let found = super::find_hashed(ctx, &presented, |h| async move {
        ctx.store.device_authorization(&h).await
    })
    .await?;
    let Some((hash, request)) = found else {
        return Err(bad_device_code().into());
    };
    if request.client_id != client.client_id {
        return Err(bad_device_code().into());
    }
    let now = ctx.clock.now();
    let answer = device_grant::answer_poll(
        request.state,
        request.expires_at,
        request.last_polled_at,
        request.interval,
        now,
    );
    // still waiting: the poll is recorded, with the interval from now on
    let (interval, waiting) = match answer {
        PollAnswer::Pending { interval } => (interval, pending_error()),
        PollAnswer::SlowDown { interval } => {
            let wait = format!(
                "polling too fast: wait at least {} seconds between polls",
                interval.whole_seconds()
            );
            (interval, OAuthError::new("slow_down", wait))
        }
        PollAnswer::EndNow => {
            expire(ctx, info, &hash, &request, now).await?;
            return Err(expired().into());
        }
        PollAnswer::Expired => return Err(expired().into()),
        PollAnswer::Denied => {
            return Err(OAuthError::new("access_denied", "the person denied the request").into())
        }
        PollAnswer::Spent => return Err(bad_device_code().into()),
        PollAnswer::Collect => return collect(ctx, client, &hash, &request, now).await,
    };
    ctx.commit(vec![DeviceAuthorizationRecord::polled(
        &hash, interval, now,
    )])
    .await?;
    Err(waiting.into())
}

fn bad_device_code() -> OAuthError {
    OAuthError::invalid_grant("the device code is invalid, used, or another client's")
}

fn expired() -> OAuthError {
    OAuthError::new(
        "expired_token",
        "the device code has expired; start a new sign-in on the device",
    )
}

/// Records, once, that a request ran out of time unanswered (its device's next poll, or
/// [`record_expired`], whichever comes first).
async fn expire(
    ctx: &Context,
    info: &ClientInfo,
    hash: &[u8],
    request: &DeviceAuthorizationRecord,
    now: OffsetDateTime,
) -> DomainResult<()> {
    let ended = event(
        ctx,
        EventKind::DeviceAuthorizationExpired,
        None,
        info,
        json!({"client_id": request.client_id}),
    );
    ctx.commit(vec![
        DeviceAuthorizationRecord::note_expired(hash, now),
        ended.write(),
    ])
    .await?;
    Ok(())
}

/// Records the end of the requests that ran out of time while their devices had stopped
/// polling (housekeeping calls it before expired rows are removed): every unanswered request
/// leaves an event. How many were recorded.
pub async fn record_expired(ctx: &Context) -> DomainResult<usize> {
    const BATCH: i64 = 500;
    let now = ctx.clock.now();
    let mut recorded = 0;
    for request in ctx
        .store
        .unanswered_device_authorizations(now, BATCH)
        .await?
    {
        let device = device_info(&request);
        expire(ctx, &device, &request.device_code_hash, &request, now).await?;
        recorded += 1;
    }
    Ok(recorded)
}

/// Gives an approved request's device its tokens, once: a session of its own (the device's
/// address and program, the approving sign-in's time and methods) and a grant under it.
async fn collect(
    ctx: &Context,
    client: &ClientRecord,
    hash: &[u8],
    request: &DeviceAuthorizationRecord,
    now: OffsetDateTime,
) -> OidcResult<Issued> {
    let decision = request.decision.as_ref().ok_or_else(bad_device_code)?;
    // the approving session must still be live: signing out everywhere before the device
    // collects its tokens stops it
    let approver_live = ctx
        .store
        .session(decision.session_id)
        .await?
        .is_some_and(|s| ctx.config.session.is_live(&s.times(), now));
    let account = ctx.store.account_by_id(decision.account_id).await?;
    let (true, Some(account)) = (approver_live, account) else {
        return Err(OAuthError::new("access_denied", "the approving sign-in has ended").into());
    };
    let session = SessionRecord {
        id: SessionId::generate_ordered(ctx.rng.as_ref(), now),
        account_id: account.id,
        created_at: now,
        last_active_at: now,
        revoked_at: None,
        auth_time: decision.auth_time,
        amr: decision.amr.clone(),
        acr: decision.acr.clone(),
        ip: request.ip.clone(),
        user_agent: request.user_agent.clone(),
        enrollment_only: false,
    };
    // the session's own refresh token is held by nobody: the device holds the grant's
    let unheld = token::generate("rt_", ctx.rng.as_ref());
    let grant = OidcGrantRecord {
        id: deadbolt_core::ids::EventId::generate(ctx.rng.as_ref())
            .0
            .to_string(),
        client_id: client.client_id.clone(),
        account_id: account.id,
        session_id: session.id,
        scope: request.scope.clone(),
        auth_time: decision.auth_time,
        amr: decision.amr.clone(),
        acr: decision.acr.clone(),
        created_at: now,
        revoked_at: None,
    };
    let refresh = tokens::new_refresh(ctx, client);
    let refresh_hash = refresh.as_ref().map(|r| ctx.keys.hasher().hash_token(r).0);
    let mut writes = vec![DeviceAuthorizationRecord::spend(hash)];
    writes.extend(session.writes(&ctx.keys.hasher().hash_token(&unheld).0));
    writes.extend(grant.insert(refresh_hash.as_ref().map(|h| h.as_slice())));
    if ctx.commit(writes).await? != BatchOutcome::Committed {
        // another poll of the same code took them
        return Err(bad_device_code().into());
    }
    tokens::issue(ctx, client, &account, &grant, &request.scope, None, refresh)
}

/// A request as its approver is shown it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub user_code: UserCode,
    pub client_name: String,
    pub client_id: String,
    pub scope: String,
    pub requested_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The country the device's address is placed in, where a location database is set up.
    pub place: Option<String>,
}

/// Why a typed user code shows no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotShown {
    /// No request has this code (counted as a wrong guess).
    Unknown,
    /// Its time ran out.
    Expired,
    /// It was approved or denied already.
    Answered,
}

/// The waiting request `typed` names, for the signed-in person `who` to approve or deny.
/// Wrong codes are counted per account and per address; past either limit every code is
/// refused for a while, the right one included.
pub async fn find(
    ctx: &Context,
    info: &ClientInfo,
    who: &Principal,
    typed: &str,
) -> DomainResult<Result<Waiting, NotShown>> {
    let Some((code, _, request)) = counted_lookup(ctx, info, who, typed).await? else {
        return Ok(Err(NotShown::Unknown));
    };
    let now = ctx.clock.now();
    if !matches!(request.state, DeviceState::Pending) {
        return Ok(Err(NotShown::Answered));
    }
    if request.expires_at <= now {
        return Ok(Err(NotShown::Expired));
    }
    let Some(client) = ctx.store.client(&request.client_id).await? else {
        return Ok(Err(NotShown::Unknown));
    };
    Ok(Ok(Waiting {
        user_code: code,
        client_name: client.name,
        client_id: client.client_id,
        scope: request.scope,
        requested_at: request.created_at,
        expires_at: request.expires_at,
        ip: request.ip,
        user_agent: request.user_agent,
        place: request.place,
    }))
}

/// The request `typed` names, with the hash it was found under, each look counted as a guess:
/// a code that names no request stays counted (per account and per address); past either
/// limit, `too_many_attempts` for every code, the right one included.
async fn counted_lookup(
    ctx: &Context,
    info: &ClientInfo,
    who: &Principal,
    typed: &str,
) -> DomainResult<Option<(UserCode, Vec<u8>, DeviceAuthorizationRecord)>> {
    let counted = attempts::reserve(ctx, buckets(ctx, info, who))
        .await?
        .map_err(|full| DomainError::TooManyAttempts {
            retry_after: full.retry_after,
        })?;
    let found = match UserCode::parse(typed) {
        Some(code) => lookup(ctx, &code).await?.map(|(h, r)| (code, h, r)),
        None => None,
    };
    match found {
        Some(found) => {
            counted.give_back_now(ctx).await?;
            Ok(Some(found))
        }
        None => {
            counted.keep();
            Ok(None)
        }
    }
}

fn buckets(ctx: &Context, info: &ClientInfo, who: &Principal) -> Vec<Bucket> {
    let limits = &ctx.config.limits;
    let window = time::Duration::seconds(limits.login_window_seconds);
    let mut out = vec![Bucket {
        key: format!("device:code:account:{}", who.session.account_id),
        policy: ThrottlePolicy {
            max_failures: limits.device_code_failures_per_account,
            window,
        },
    }];
    if let Some(ip) = info.ip {
        out.push(Bucket {
            key: format!("device:code:ip:{ip}"),
            policy: ThrottlePolicy {
                max_failures: limits.device_code_failures_per_ip,
                window,
            },
        });
    }
    out
}

/// The request under `code`'s hash by any hashing key still verifying, with that hash.
async fn lookup(
    ctx: &Context,
    code: &UserCode,
) -> DomainResult<Option<(Vec<u8>, DeviceAuthorizationRecord)>> {
    let now = ctx.clock.now();
    for k in ctx.keys.hashing().verifying(now) {
        let hash = user_code_hash_under(&k.hasher, code);
        if let Some(found) = ctx.store.device_authorization_by_user_code(&hash).await? {
            return Ok(Some((hash, found)));
        }
    }
    Ok(None)
}

/// The device that asked, as a client of ours: where it is and what it runs.
fn device_info(request: &DeviceAuthorizationRecord) -> ClientInfo {
    ClientInfo {
        ip: request.ip.as_deref().and_then(|ip| ip.parse().ok()),
        user_agent: request.user_agent.clone(),
    }
}

/// Approves or denies the request `code` names, as `who`. An approval outlives the session
/// that gives it (the device gets a session of its own), so, as for a new second factor, it
/// needs a recent sign-in or step-up (`device.approve`).
pub async fn decide(
    ctx: &Context,
    info: &ClientInfo,
    who: &Principal,
    code: &UserCode,
    approve: bool,
) -> DomainResult<Result<(), NotShown>> {
    if who.session.enrollment_only {
        return Err(DomainError::EnrollmentRequired);
    }
    let Some((_, hash, request)) = counted_lookup(ctx, info, who, code.normalized()).await? else {
        return Ok(Err(NotShown::Unknown));
    };
    let account = ctx
        .store
        .account_by_id(who.session.account_id)
        .await?
        .ok_or(DomainError::InvalidToken)?;
    let device = device_info(&request);
    let (grant, told) = match approve {
        true => {
            // where the account's roles may sign in from holds for the device too: an
            // approval from an allowed place carries no device elsewhere past the rule
            risk::ensure_location_allowed(ctx, &device, &account, &risk::place_of(ctx, &device))
                .await?;
            let grant = crate::stepup::require_recent(ctx, who, Action::DEVICE_APPROVE).await?;
            // the device's session outlives the approving one: its owner hears of it
            (
                grant,
                notice(ctx, &account, Notice::DeviceSignedIn, &device)?,
            )
        }
        false => (None, None),
    };
    let now = ctx.clock.now();
    let decision = DeviceDecision {
        account_id: who.session.account_id,
        session_id: who.session.id,
        auth_time: who.session.auth_time,
        amr: who.session.amr.clone(),
        acr: who.session.acr.clone(),
        decided_at: now,
    };
    let (state, kind) = match approve {
        true => (
            DeviceState::Approved,
            EventKind::DeviceAuthorizationApproved,
        ),
        false => (DeviceState::Denied, EventKind::DeviceAuthorizationDenied),
    };
    let recorded = event(
        ctx,
        kind,
        Some(who.session.account_id),
        info,
        json!({
            "client_id": request.client_id,
            "device_ip": request.ip,
            "device_user_agent": request.user_agent,
        }),
    );
    let mut writes = vec![
        DeviceAuthorizationRecord::decide(&hash, state, &decision, now),
        recorded.write(),
    ];
    writes.extend(told.map(|m| m.write()));
    match crate::stepup::commit_with(ctx, grant, writes).await? {
        BatchOutcome::Committed => Ok(Ok(())),
        BatchOutcome::GuardFailed(_) if request.expires_at <= now => Ok(Err(NotShown::Expired)),
        BatchOutcome::GuardFailed(_) => Ok(Err(NotShown::Answered)),
    }
}
