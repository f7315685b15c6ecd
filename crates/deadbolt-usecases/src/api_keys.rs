//! API keys: made by a signed-in account for its programs, shown once, revoked under step-up,
//! and checked by apps through introspection.

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use crate::stepup;
use deadbolt_core::api_key;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::ApiKeyId;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_core::throttle::{retry_after_seconds, ThrottlePolicy};
use deadbolt_core::CoreError;
use deadbolt_store::{ApiKeyRecord, BatchOutcome};
use serde_json::json;
use time::Duration;

/// A key just made: the key itself is in here, and nowhere else, ever again.
pub struct NewKey {
    pub record: ApiKeyRecord,
    pub key: Secret,
}

pub async fn create(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    name: &str,
) -> DomainResult<NewKey> {
    let name = api_key::check_name(name)?;
    let account = crate::sessions::account_of(ctx, who).await?;
    if !account.email_verified {
        return Err(DomainError::EmailUnverified);
    }
    // a key outlives the session that makes it: a stolen session must not leave one behind
    let grant = stepup::require_recent(ctx, who, Action::API_KEY_CREATE).await?;
    let (key, shown) = api_key::generate(ctx.rng.as_ref());
    let hashing = ctx.keys.hashing();
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(ctx.rng.as_ref()),
        account_id: who.session.account_id,
        name,
        shown,
        key_hash: hashing.live().hasher.hash_token(&key).0.to_vec(),
        created_at: ctx.clock.now(),
        last_used_at: None,
        revoked_at: None,
        hash_key_id: Some(hashing.live().id.clone()),
    };
    let created = event(
        ctx,
        EventKind::ApiKeyCreated,
        Some(record.account_id),
        client,
        json!({"key_id": record.id, "name": record.name, "prefix": record.shown}),
    );
    // a key outlives sessions: its owner hears of every new one
    let told = notice(ctx, &account, Notice::ApiKeyCreated, client)?;
    let mut writes = vec![record.insert(), created.write()];
    writes.extend(told.map(|m| m.write()));
    stepup::commit_with(ctx, grant, writes).await?;
    Ok(NewKey { record, key })
}

pub async fn list(ctx: &Context, who: &Principal) -> DomainResult<Vec<ApiKeyRecord>> {
    Ok(ctx.store.api_keys_of(who.session.account_id).await?)
}

/// Revokes one of the caller's keys (step-up `api_key.revoke`).
pub async fn revoke(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: ApiKeyId,
) -> DomainResult<()> {
    let account = who.session.account_id;
    if !ctx
        .store
        .api_keys_of(account)
        .await?
        .iter()
        .any(|k| k.id == id)
    {
        return Err(DomainError::NotFound);
    }
    let grant = stepup::require(ctx, who, Action::API_KEY_REVOKE).await?;
    let revoked = event(
        ctx,
        EventKind::ApiKeyRevoked,
        Some(account),
        client,
        json!({"key_id": id}),
    );
    let writes = vec![
        ApiKeyRecord::revoke(account, id, ctx.clock.now()),
        revoked.write(),
    ];
    match stepup::commit_with(ctx, Some(grant), writes).await? {
        BatchOutcome::Committed => Ok(()),
        // revoked meanwhile by a parallel request
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

/// What introspection says of a key.
pub struct Introspection {
    pub key: Option<ApiKeyRecord>,
}

/// Wrong keys per client address before introspection answers 429: a program with a real key
/// never meets this; someone guessing keys does.
const INTROSPECT_FAILURES: u32 = 30;
const INTROSPECT_WINDOW: Duration = Duration::minutes(15);

/// Checks a key for an app (no authentication: the key is the secret). A live key always
/// answers (the caller is usually an app server relaying its users' keys, so junk from one user
/// must not shut the others out); unknown, malformed and revoked keys are inactive and count
/// against the client's address, and past the limit they answer 429.
pub async fn introspect(
    ctx: &Context,
    client: &ClientInfo,
    key: &Secret,
) -> DomainResult<Introspection> {
    let now = ctx.clock.now();
    let found = if api_key::looks_like_a_key(key.expose()) {
        by_key(ctx, key).await?
    } else {
        None
    };
    if let Some(k) = found.filter(|k| k.revoked_at.is_none()) {
        ctx.store.api_key_used(k.id, now).await?;
        return Ok(Introspection { key: Some(k) });
    }
    let policy = ThrottlePolicy {
        max_failures: INTROSPECT_FAILURES,
        window: INTROSPECT_WINDOW,
    };
    let bucket = client
        .ip
        .map(|ip| format!("introspect:ip:{ip}"))
        .unwrap_or_else(|| "introspect:ip:unknown".to_owned());
    let seen = ctx
        .store
        .failure_window(&bucket, policy.window_start(now))
        .await?;
    if let Err(CoreError::Throttled(wait)) = policy.check(seen, now) {
        return Err(DomainError::TooManyAttempts {
            retry_after: retry_after_seconds(wait),
        });
    }
    ctx.store
        .record_failure(&[bucket], now, now - INTROSPECT_WINDOW)
        .await?;
    Ok(Introspection { key: None })
}

/// The key stored under `key`'s hash by any hashing key still kept, the live one first (a key
/// has no end, so it keeps the key it was hashed with). A live key found under a retired one is
/// hashed anew under the live one, so that the retired one can go.
async fn by_key(ctx: &Context, key: &Secret) -> DomainResult<Option<ApiKeyRecord>> {
    let hashing = ctx.keys.hashing();
    let live = hashing.live();
    for k in hashing.all() {
        let hash = k.hasher.hash_token(key);
        let Some(found) = ctx.store.api_key_by_hash(&hash.0).await? else {
            continue;
        };
        if found.revoked_at.is_none() && found.hash_key_id.as_deref() != Some(live.id.as_str()) {
            let rehashed = live.hasher.hash_token(key);
            ctx.store
                .api_key_rehashed(found.id, &rehashed.0, &live.id)
                .await?;
        }
        return Ok(Some(found));
    }
    Ok(None)
}
