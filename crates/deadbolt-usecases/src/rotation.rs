//! `deadbolt keys rotate`: a new master key, and every sealed value re-sealed under it, while
//! running instances keep answering (they read the key file again when they meet the new key
//! id, and the old key stays in the file until `--prune`).
//!
//! `deadbolt keys rotate --signing`: new token-signing keys (Ed25519 and the RS256 key of
//! OpenID Connect), live at once; the old ones verify until the longest-lived token they may
//! have signed has expired (`--now`: not at all, for keys that leaked).
//!
//! `deadbolt keys rotate --hashing`: a new key for hashing tokens and codes, live at once; the
//! old one finds what it hashed until the last refresh token or trusted device it may have
//! hashed has ended, and API keys and recovery codes until each is used, revoked or spent
//! (`--now`: nothing any more; its API keys are revoked and its recovery codes spent).

use crate::factors::totp_aad;
use crate::keyring::key_aad;
use crate::master_key::{MasterKeys, Sealed};
use deadbolt_config::Config;
use deadbolt_core::clock::Clock;
use deadbolt_core::policy::Policy;
use deadbolt_core::random::Random;
use deadbolt_core::stepup::ONE_SHOT_TTL;
use deadbolt_store::Store;
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// Added to a retired key's life: instances that have not yet seen the rotation (they look
/// every second) may still sign or hash with it meanwhile.
const PICK_UP_MARGIN: Duration = Duration::MINUTE;

#[derive(Debug, PartialEq, Eq)]
pub struct SigningRotation {
    /// The new Ed25519 key.
    pub new_kid: String,
    pub old_kid: Option<String>,
    /// The new RSA key (RS256).
    pub new_rs256_kid: String,
    /// None when there was no RSA key yet (a database from before there was one).
    pub old_rs256_kid: Option<String>,
    /// When the old keys stop verifying.
    pub old_verifies_until: OffsetDateTime,
}

impl SigningRotation {
    pub fn old_verifies_until_rfc3339(&self) -> String {
        self.old_verifies_until
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| self.old_verifies_until.to_string())
    }
}

/// The longest a token signed now can stay good: an access token, an ID token, or a step-up
/// token, whose `exp` is its grant's end (one-shot grants wait [`ONE_SHOT_TTL`]; windows last
/// as policy says).
pub fn longest_token_lifetime(config: &Config, policy: &Policy) -> Duration {
    let steps = &policy.step_up;
    let longest_window = std::iter::once(&steps.default)
        .chain(steps.actions.values())
        .filter_map(|rule| rule.window_seconds)
        .max()
        .map_or(Duration::ZERO, Duration::seconds);
    config
        .session
        .access_ttl()
        .max(deadbolt_core::oidc::ID_TOKEN_TTL)
        .max(ONE_SHOT_TTL)
        .max(longest_window)
}

/// Makes new live signing keys, Ed25519 and RSA; the old ones verify until every token they
/// signed has expired, or, `immediately`, no longer (their tokens are refused at once; sessions
/// carry on by refreshing, which needs no signature).
pub async fn rotate_signing(
    store: &Store,
    config: &Config,
    clock: &dyn Clock,
    rng: &dyn Random,
    immediately: bool,
) -> anyhow::Result<SigningRotation> {
    let master = MasterKeys::load_or_create(&config.secrets.master_key_file, rng)?;
    let policy = crate::live_policy::load(store, config, clock).await?.get();
    let now = clock.now();
    let old_kid = live_key_id(store, crate::keyring::SIGNING).await?;
    let old_rs256_kid = live_key_id(store, crate::keyring::SIGNING_RS256).await?;
    let until = if immediately {
        now
    } else {
        now + longest_token_lifetime(config, &policy) + PICK_UP_MARGIN
    };
    let new = crate::keyring::rotate_signing(store, &master, rng, now, until).await?;
    Ok(SigningRotation {
        new_kid: new.ed25519,
        old_kid,
        new_rs256_kid: new.rs256,
        old_rs256_kid,
        old_verifies_until: until,
    })
}

async fn live_key_id(store: &Store, kind: &str) -> anyhow::Result<Option<String>> {
    Ok(store
        .keys(kind)
        .await?
        .into_iter()
        .find(|k| k.retired_at.is_none())
        .map(|k| k.id))
}

#[derive(Debug, PartialEq, Eq)]
pub struct HashingRotation {
    pub new_id: String,
    pub old_id: Option<String>,
    /// When the old key stops finding refresh tokens, trusted devices and the short-lived
    /// things; None when it ended at once.
    pub old_verifies_until: Option<OffsetDateTime>,
    /// Live API keys: after a rotation at once, those it revoked.
    pub api_keys: i64,
    /// Accounts with unused recovery codes: after a rotation at once, those left without.
    pub recovery_accounts: i64,
}

impl HashingRotation {
    pub fn old_verifies_until_rfc3339(&self) -> Option<String> {
        self.old_verifies_until.map(|until| {
            until
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| until.to_string())
        })
    }
}

/// Makes a new live hashing key. The old one finds what it hashed until every refresh token
/// and trusted device it may have hashed has ended, and API keys and recovery codes for as long
/// as they live unused; `immediately` (a leak), nothing any more: every refresh token, trusted
/// device, API key and recovery code hashed under an older key stops working.
pub async fn rotate_hashing(
    store: &Store,
    config: &Config,
    clock: &dyn Clock,
    rng: &dyn Random,
    immediately: bool,
) -> anyhow::Result<HashingRotation> {
    let master = MasterKeys::load_or_create(&config.secrets.master_key_file, rng)?;
    let now = clock.now();
    let old_id = live_key_id(store, "token_hmac").await?;
    let (api_keys, recovery_accounts) = store.hashed_under_hashing_keys().await?;
    let until = if immediately {
        None
    } else {
        // a device's end is stored with it: the policy in force then may have been longer
        let sessions_end = now + Duration::seconds(config.session.absolute_seconds);
        let devices_end = store.latest_device_expiry().await?.unwrap_or(now);
        Some(sessions_end.max(devices_end) + PICK_UP_MARGIN)
    };
    let new_id = crate::keyring::rotate_hashing(store, &master, rng, now, until).await?;
    Ok(HashingRotation {
        new_id,
        old_id,
        old_verifies_until: until,
        api_keys,
        recovery_accounts,
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub new_key_id: String,
    pub service_keys: usize,
    pub totp_secrets: usize,
    /// Push approvers' gateway addresses.
    pub push_tokens: usize,
    /// Messages waiting in the outbox, their words sealed again.
    pub messages: usize,
}

/// Puts a new key first in the file and re-seals every row under it.
pub async fn rotate(
    store: &Store,
    key_file: &Path,
    rng: &dyn Random,
) -> anyhow::Result<RotationReport> {
    let new = MasterKeys::rotate_file(key_file, rng)?;
    let keys = MasterKeys::load_or_create(key_file, rng)?;
    let mut report = RotationReport {
        new_key_id: new.id().to_owned(),
        ..Default::default()
    };
    for r in store.all_keys().await? {
        if r.master_key_id == new.id() {
            continue;
        }
        let sealed = Sealed {
            nonce: r.nonce.clone(),
            ciphertext: r.ciphertext.clone(),
        };
        let plain = keys.open(&r.master_key_id, &sealed, &key_aad(&r))?;
        let resealed = new.seal(&plain, &key_aad(&r), rng)?;
        if store
            .reseal_key(
                &r.id,
                &r.master_key_id,
                new.id(),
                resealed.nonce,
                resealed.ciphertext,
            )
            .await?
        {
            report.service_keys += 1;
        }
    }
    for r in store.all_totp().await? {
        if r.master_key_id == new.id() {
            continue;
        }
        let sealed = Sealed {
            nonce: r.nonce.clone(),
            ciphertext: r.ciphertext.clone(),
        };
        let plain = keys.open(&r.master_key_id, &sealed, &totp_aad(r.method_id))?;
        let resealed = new.seal(&plain, &totp_aad(r.method_id), rng)?;
        // a method deleted meanwhile simply has nothing to update
        if store
            .reseal_totp(
                r.method_id,
                &r.master_key_id,
                new.id(),
                resealed.nonce,
                resealed.ciphertext,
            )
            .await?
        {
            report.totp_secrets += 1;
        }
    }
    for (method, key_id, nonce, ciphertext) in store.all_push_tokens().await? {
        if key_id == new.id() {
            continue;
        }
        let aad = crate::push::push_token_aad(method);
        let plain = keys.open(&key_id, &Sealed { nonce, ciphertext }, &aad)?;
        let resealed = new.seal(&plain, &aad, rng)?;
        if store
            .reseal_push_token(
                method,
                &key_id,
                new.id(),
                resealed.nonce,
                resealed.ciphertext,
            )
            .await?
        {
            report.push_tokens += 1;
        }
    }
    let body_keys = crate::master_key::OutboxBodyKeys {
        master: std::sync::Arc::new(keys),
        rng: std::sync::Arc::new(crate::system::OsRandom),
    };
    for waiting in store.sealed_waiting_messages().await? {
        if waiting.master_key_id() == Some(new.id()) {
            continue;
        }
        let resealed = waiting.open(&body_keys)?.seal(&body_keys)?;
        if store.reseal_message(&waiting, &resealed).await? {
            report.messages += 1;
        }
    }
    Ok(report)
}

/// Drops from the key file every key that no row uses any more. Returns how many went.
pub async fn prune(store: &Store, key_file: &Path) -> anyhow::Result<usize> {
    let mut in_use: Vec<String> = store
        .all_keys()
        .await?
        .into_iter()
        .map(|k| k.master_key_id)
        .collect();
    in_use.extend(store.all_totp().await?.into_iter().map(|t| t.master_key_id));
    in_use.extend(store.all_push_tokens().await?.into_iter().map(|t| t.1));
    // a message still waiting opens with the key that sealed it
    in_use.extend(store.outbox_master_key_ids().await?);
    in_use.sort();
    in_use.dedup();
    MasterKeys::prune_file(key_file, &in_use)
}
