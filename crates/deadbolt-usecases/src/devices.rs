//! Trusted devices: a token bound to an account and the User-Agent it was given to, that lets
//! a password login skip the second factor until it expires or is revoked.

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::notice::Notice;
use crate::notify::notice;
use deadbolt_core::account::Account;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::DeviceId;
use deadbolt_core::secret::Secret;
use deadbolt_core::token;
use deadbolt_store::{add_device, rekey_device, touch_device, BatchOutcome, DeviceRecord, Store};
use serde_json::json;
use time::Duration;

const DEVICE_PREFIX: &str = "dt_";

/// A new device token for this client, and its record.
pub fn issue(ctx: &Context, account: &Account, client: &ClientInfo) -> (Secret, DeviceRecord) {
    let now = ctx.clock.now();
    let secret = token::generate(DEVICE_PREFIX, ctx.rng.as_ref());
    let record = DeviceRecord {
        id: DeviceId::generate(ctx.rng.as_ref()),
        account_id: account.id,
        token_hash: ctx.keys.hasher().hash_token(&secret).0.to_vec(),
        user_agent: client.user_agent.clone().unwrap_or_default(),
        ip: client.ip.map(|ip| ip.to_string()),
        created_at: now,
        expires_at: now + Duration::days(ctx.policy.get().trusted_device_days),
        last_used_at: None,
        revoked_at: None,
    };
    (secret, record)
}

/// True when the token is live, belongs to this account and comes from the same User-Agent it
/// was given to.
pub async fn is_trusted(
    ctx: &Context,
    account: &Account,
    client: &ClientInfo,
    presented: &Secret,
) -> DomainResult<bool> {
    if !presented.expose().starts_with(DEVICE_PREFIX) || presented.expose().len() > 128 {
        return Ok(false);
    }
    let now = ctx.clock.now();
    let hashing = ctx.keys.hashing();
    let mut found = None;
    for k in hashing.verifying(now) {
        found = ctx
            .store
            .device_by_token(&k.hasher.hash_token(presented).0)
            .await?;
        if found.is_some() {
            break;
        }
    }
    let Some(device) = found else {
        return Ok(false);
    };
    let trusted = device.account_id == account.id
        && device.revoked_at.is_none()
        && now < device.expires_at
        && client.user_agent.as_deref().unwrap_or_default() == device.user_agent;
    if trusted {
        // stored anew under the live key: a device found under a retired one outlives it
        let hash = hashing.live().hasher.hash_token(presented);
        ctx.store.device_used(device.id, now, &hash.0).await?;
    }
    Ok(trusted)
}

pub async fn list(ctx: &Context, who: &Principal) -> DomainResult<Vec<DeviceRecord>> {
    Ok(ctx
        .store
        .devices_of(who.session.account_id, ctx.clock.now())
        .await?)
}

pub async fn revoke(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: DeviceId,
) -> DomainResult<()> {
    let now = ctx.clock.now();
    let account = who.session.account_id;
    let e = event(
        ctx,
        EventKind::DeviceRevoked,
        Some(account),
        client,
        json!({"device_id": id}),
    );
    match ctx
        .commit(vec![Store::revoke_device(account, id, now), e.write()])
        .await?
    {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

/// How often a known device's last sign-in is moved forward: a sign-in from a device seen
/// within the day writes nothing for it.
const TOUCH_EVERY: Duration = Duration::DAY;

/// The device of a sign-in (a keyed hash of its User-Agent, never the string itself), looked up
/// before the sign-in commits so that its writes ride in the sign-in's own transaction.
pub struct SignInDevice {
    key: Vec<u8>,
    last_seen: Option<time::OffsetDateTime>,
    /// The device's key under a retired hashing key, when it was found only under that one.
    retired_key: Option<Vec<u8>>,
}

/// Best effort: when the lookup fails the sign-in goes on, treating the device as known (no
/// note, no notice) rather than failing.
pub async fn sign_in_device(ctx: &Context, client: &ClientInfo, account: &Account) -> SignInDevice {
    match look_up(ctx, client, account).await {
        Ok(device) => device,
        Err(e) => {
            tracing::warn!(error = %e, account_id = %account.id, "cannot look up the sign-in device");
            SignInDevice {
                key: Vec::new(),
                last_seen: Some(ctx.clock.now()),
                retired_key: None,
            }
        }
    }
}

async fn look_up(
    ctx: &Context,
    client: &ClientInfo,
    account: &Account,
) -> DomainResult<SignInDevice> {
    let key = device_key(ctx, client, account);
    let last_seen = ctx.store.device_last_seen(account.id, &key).await?;
    SignInDevice::seen(key, last_seen)
        .or_under_retired_keys(ctx, client, account)
        .await
}

/// The sign-in's device as the store knows it: a keyed hash of the account and User-Agent.
pub fn device_key(ctx: &Context, client: &ClientInfo, account: &Account) -> Vec<u8> {
    let agent = client.user_agent.as_deref().unwrap_or_default();
    ctx.keys
        .hasher()
        .hash(&[b"device", account.id.0.as_bytes(), agent.as_bytes()])
        .0
        .to_vec()
}

impl SignInDevice {
    /// A device looked up by the caller (with its other reads): its key, and when the account
    /// last signed in from it, if ever.
    pub fn seen(key: Vec<u8>, last_seen: Option<time::OffsetDateTime>) -> Self {
        Self {
            key,
            last_seen,
            retired_key: None,
        }
    }

    /// A device not known under the live hashing key may be known under a retired one that
    /// still verifies: a rotation must not make every device new, with a notice for each.
    pub async fn or_under_retired_keys(
        mut self,
        ctx: &Context,
        client: &ClientInfo,
        account: &Account,
    ) -> DomainResult<Self> {
        if self.last_seen.is_some() {
            return Ok(self);
        }
        let agent = client.user_agent.as_deref().unwrap_or_default();
        let hashing = ctx.keys.hashing();
        for k in hashing.verifying(ctx.clock.now()).skip(1) {
            let old = k
                .hasher
                .hash(&[b"device", account.id.0.as_bytes(), agent.as_bytes()])
                .0
                .to_vec();
            if let Some(seen) = ctx.store.device_last_seen(account.id, &old).await? {
                self.last_seen = Some(seen);
                self.retired_key = Some(old);
                break;
            }
        }
        Ok(self)
    }

    /// The account signed in from this device before.
    pub fn is_known(&self) -> bool {
        self.last_seen.is_some()
    }

    /// What the sign-in writes about its device.
    pub fn writes(&self, ctx: &Context, account: &Account) -> Vec<deadbolt_store::Write> {
        let now = ctx.clock.now();
        if let Some(old) = &self.retired_key {
            return rekey_device(account.id, old, &self.key, now);
        }
        match self.last_seen {
            None => vec![add_device(account.id, &self.key, now)],
            Some(seen) if now - seen >= TOUCH_EVERY => {
                vec![touch_device(account.id, &self.key, now)]
            }
            Some(_) => vec![],
        }
    }

    /// After the sign-in committed: a device the account had not used before, when it had used
    /// others, is recorded and told to the user. A failure here must not undo the sign-in: it
    /// is logged.
    pub async fn tell_if_new(self, ctx: &Context, client: &ClientInfo, account: &Account) {
        if self.last_seen.is_some() {
            return;
        }
        if let Err(e) = tell(ctx, client, account).await {
            tracing::warn!(error = %e, account_id = %account.id, "cannot tell of a new device");
        }
    }
}

async fn tell(ctx: &Context, client: &ClientInfo, account: &Account) -> DomainResult<()> {
    // the account's first device is not news; an unverified address may not be the user's
    if !account.email_verified || ctx.store.device_count(account.id).await? < 2 {
        return Ok(());
    }
    let recorded = event(
        ctx,
        EventKind::NewDeviceSignIn,
        Some(account.id),
        client,
        json!({}),
    );
    let told = notice(ctx, account, Notice::NewDevice, client)?;
    let mut writes = vec![recorded.write()];
    writes.extend(told.map(|m| m.write()));
    ctx.commit(writes).await?;
    Ok(())
}
