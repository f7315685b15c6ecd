//! What every handler can reach.

use crate::config::Config;
use crate::hash_pool::HashPool;
use crate::keyring::KeyRing;
use crate::metrics::Metrics;
use deadbolt_core::clock::Clock;
use deadbolt_core::password::PasswordHasher;
use deadbolt_core::random::Random;
use deadbolt_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub keys: Arc<KeyRing>,
    /// Seals and opens TOTP secrets.
    pub master: Arc<crate::master_key::MasterKeys>,
    /// Seals the words of queued messages (the outbox worker opens them).
    pub outbox_keys: Arc<crate::master_key::OutboxBodyKeys>,
    pub passwords: Arc<PasswordHasher>,
    pub hash_pool: HashPool,
    /// Passkey sign-ins being started at once (`[limits] passkey_starts_in_flight`).
    pub passkey_starts: crate::admission::Gate,
    pub metrics: Arc<Metrics>,
    /// Rung after a message is queued so the outbox worker sends it at once.
    pub outbox_wake: Arc<Notify>,
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// The words of every message sent.
    pub messages: Arc<crate::messages::Messages>,
    /// The OpenAPI document, rendered once at start.
    pub openapi: Arc<String>,
    /// The central policy in force (see `crate::policy`).
    pub policy: Arc<crate::policy::PolicyCell>,
    /// Where client addresses are, when a GeoIP database is configured.
    pub geoip: Option<Arc<crate::geoip::GeoIp>>,
}
