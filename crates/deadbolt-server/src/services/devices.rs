//! Trusted devices: a token bound to an account and the User-Agent it was given to, that lets
//! a password login skip the second factor until it expires or is revoked.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientInfo, Principal};
use crate::services::events::event;
use crate::services::notify::{notice, Notice};
use crate::state::AppState;
use deadbolt_core::account::Account;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::DeviceId;
use deadbolt_core::secret::Secret;
use deadbolt_core::token;
use deadbolt_store::{BatchOutcome, DeviceRecord, DeviceSeen, Store};
use serde_json::json;
use time::Duration;

const DEVICE_PREFIX: &str = "dt_";

/// A new device token for this client, and its record.
pub fn issue(state: &AppState, account: &Account, client: &ClientInfo) -> (Secret, DeviceRecord) {
    let now = state.clock.now();
    let secret = token::generate(DEVICE_PREFIX, state.rng.as_ref());
    let record = DeviceRecord {
        id: DeviceId::generate(state.rng.as_ref()),
        account_id: account.id,
        token_hash: state.keys.hasher.hash_token(&secret).0.to_vec(),
        user_agent: client.user_agent.clone().unwrap_or_default(),
        ip: client.ip.map(|ip| ip.to_string()),
        created_at: now,
        expires_at: now + Duration::days(state.config.mfa.trusted_device_days),
        last_used_at: None,
        revoked_at: None,
    };
    (secret, record)
}

/// True when the token is live, belongs to this account and comes from the same User-Agent it
/// was given to.
pub async fn is_trusted(
    state: &AppState,
    account: &Account,
    client: &ClientInfo,
    presented: &Secret,
) -> ApiResult<bool> {
    if !presented.expose().starts_with(DEVICE_PREFIX) || presented.expose().len() > 128 {
        return Ok(false);
    }
    let now = state.clock.now();
    let hash = state.keys.hasher.hash_token(presented);
    let Some(device) = state.store.device_by_token(&hash.0).await? else {
        return Ok(false);
    };
    let trusted = device.account_id == account.id
        && device.revoked_at.is_none()
        && now < device.expires_at
        && client.user_agent.as_deref().unwrap_or_default() == device.user_agent;
    if trusted {
        state.store.device_used(device.id, now).await?;
    }
    Ok(trusted)
}

pub async fn list(state: &AppState, who: &Principal) -> ApiResult<Vec<DeviceRecord>> {
    Ok(state
        .store
        .devices_of(who.session.account_id, state.clock.now())
        .await?)
}

pub async fn revoke(
    state: &AppState,
    client: &ClientInfo,
    who: &Principal,
    id: DeviceId,
) -> ApiResult<()> {
    let now = state.clock.now();
    let account = who.session.account_id;
    let e = event(
        state,
        EventKind::DeviceRevoked,
        Some(account),
        client,
        json!({"device_id": id}),
    );
    match state
        .store
        .commit(vec![Store::revoke_device(account, id, now), e.write()])
        .await?
    {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(ApiError::NotFound),
    }
}

/// Notes the device of a sign-in (a keyed hash of its User-Agent, never the string itself) and,
/// when the account had signed in from other devices but never this one, records it and tells
/// the user. A failure here must not undo a sign-in that already happened: it is logged.
pub async fn note_sign_in(state: &AppState, client: &ClientInfo, account: &Account) {
    if let Err(e) = tell_if_new(state, client, account).await {
        tracing::warn!(error = %e, account_id = %account.id, "cannot note the sign-in device");
    }
}

async fn tell_if_new(state: &AppState, client: &ClientInfo, account: &Account) -> ApiResult<()> {
    let agent = client.user_agent.as_deref().unwrap_or_default();
    let key = state
        .keys
        .hasher
        .hash(&[b"device", account.id.0.as_bytes(), agent.as_bytes()]);
    let seen = state
        .store
        .note_device(account.id, &key.0, state.clock.now())
        .await?;
    // an unverified address may not be the user's: no mail there on every new User-Agent
    if seen != DeviceSeen::New || !account.email_verified {
        return Ok(());
    }
    let recorded = event(
        state,
        EventKind::NewDeviceSignIn,
        Some(account.id),
        client,
        json!({}),
    );
    let told = notice(state, account, Notice::NewDevice, client)?;
    state
        .store
        .commit(vec![recorded.write(), told.write()])
        .await?;
    state.outbox_wake.notify_one();
    Ok(())
}
