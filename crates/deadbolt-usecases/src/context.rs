//! What every use case reaches the world through: the store, the clock, randomness, keys, the
//! password hasher, the policy in force, and the outbox it wakes after a commit.

use crate::admission::Gate;
use crate::hash_pool::HashPool;
use crate::keyring::KeyRing;
use crate::live_policy::{parse_stored, PolicyCell};
use crate::master_key::{MasterKeys, OutboxBodyKeys};
use crate::messages::Messages;
use crate::metrics::Metrics;
use anyhow::Context as _;
use deadbolt_config::Config;
use deadbolt_core::clock::Clock;
use deadbolt_core::password::PasswordHasher;
use deadbolt_core::policy::Deployment;
use deadbolt_core::random::Random;
use deadbolt_store::{BatchOutcome, Store, StoreError, Write};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub keys: Arc<KeyRing>,
    /// Seals and opens TOTP secrets.
    pub master: Arc<MasterKeys>,
    /// Seals the words of queued messages (the outbox worker opens them).
    pub outbox_keys: Arc<OutboxBodyKeys>,
    pub passwords: Arc<PasswordHasher>,
    pub hash_pool: HashPool,
    /// Passkey sign-ins being started at once (`[limits] passkey_starts_in_flight`).
    pub passkey_starts: Gate,
    pub metrics: Arc<Metrics>,
    /// Rung after a batch that queued a message commits (see [`Context::commit`]).
    outbox_wake: Arc<Notify>,
    /// The words of every message sent.
    pub messages: Arc<Messages>,
    /// The central policy in force (see `crate::policy`).
    pub policy: Arc<PolicyCell>,
    /// Where client addresses are, when a GeoIP database is configured.
    pub geoip: Option<Arc<crate::geoip::GeoIp>>,
}

/// Opens the store named in the config and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&config.database.url, config.database.pool_size)
        .context("opening the database")?;
    let applied = store.migrate().await.context("migrating the database")?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    Ok(store)
}

impl Context {
    /// Opens the store, loads or makes the keys, reads the policy in force: what the server,
    /// the commands and the use cases' own tests run on.
    pub async fn open(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> anyhow::Result<Self> {
        let store = open_store(&config).await?;
        let master = Arc::new(MasterKeys::load_or_create(
            &config.secrets.master_key_file,
            rng.as_ref(),
        )?);
        let keys = KeyRing::load_or_create(&store, &master, clock.as_ref(), rng.as_ref()).await?;
        let passwords = PasswordHasher::new(config.password.params(), rng.as_ref())
            .map_err(|e| anyhow::anyhow!("password hashing parameters: {e}"))?;
        let hash_pool = HashPool::new(config.hash_threads(), config.hash_queue())?;
        let messages = Messages::new(&config.mfa.issuer, &crate::notice::Notice::keys())
            .context("loading the message templates")?;
        let policy = crate::live_policy::load(&store, &config, clock.as_ref())
            .await
            .context("loading the policy")?;
        let geoip = match config.geoip.database.as_str() {
            "" => None,
            path => Some(Arc::new(crate::geoip::GeoIp::open(path)?)),
        };
        let outbox_keys = Arc::new(OutboxBodyKeys {
            master: master.clone(),
            rng: rng.clone(),
        });
        let passkey_starts = Gate::new(config.limits.passkey_starts_in_flight);
        Ok(Self {
            outbox_keys,
            passkey_starts,
            policy: Arc::new(policy),
            geoip,
            messages: Arc::new(messages),
            config: Arc::new(config),
            store,
            clock,
            rng,
            keys: Arc::new(keys),
            master,
            passwords: Arc::new(passwords),
            hash_pool,
            metrics: Arc::new(Metrics::new()),
            outbox_wake: Arc::new(Notify::new()),
        })
    }

    /// Commits a batch whole. When it queued a message, the outbox worker is woken so the
    /// message leaves at once, not at the worker's next poll.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<BatchOutcome, StoreError> {
        let queues_message = writes.iter().any(Write::queues_message);
        #[allow(clippy::disallowed_methods, reason = "the one commit of the use cases")]
        let outcome = self.store.commit(writes).await?;
        if queues_message && outcome == BatchOutcome::Committed {
            self.wake_outbox();
        }
        Ok(outcome)
    }

    /// What the outbox worker waits on between polls.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }

    /// Has the outbox worker look at the queue now (a message was put back in it).
    pub fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }

    /// What a policy is judged against on this instance.
    pub fn deployment(&self) -> Deployment {
        Deployment {
            has_geoip: self.geoip.is_some(),
            login_failures_per_account: self.config.limits.login_failures_per_account,
        }
    }

    /// One look for another instance's change of the policy.
    pub async fn refresh_policy(&self) -> anyhow::Result<()> {
        let Some(version) = self.store.policy_version().await? else {
            return Ok(());
        };
        if version == self.policy.version() {
            return Ok(());
        }
        if let Some(stored) = self.store.policy().await? {
            let policy = parse_stored(&stored.document, &self.config.policy_seed())?;
            // stored by an instance that judged it by other rules (another version, say)
            if let Some(p) = policy.problems_in(&self.deployment()).first() {
                anyhow::bail!(
                    "the stored policy {} is invalid here: {}: {}",
                    stored.version,
                    p.field,
                    p.message
                );
            }
            self.policy.set(stored.version, policy);
            tracing::info!(version = stored.version, "policy changed");
        }
        Ok(())
    }

    /// Follows what other instances and commands change: the policy, and the service keys
    /// (`deadbolt keys rotate --signing`/`--hashing`). Either task stops when dropped.
    pub fn spawn_watches(&self) -> [tokio::task::JoinHandle<()>; 2] {
        let policy = self.clone();
        let keys = self.clone();
        [
            every(crate::live_policy::WATCH_EVERY, move || {
                let ctx = policy.clone();
                async move {
                    if let Err(e) = ctx.refresh_policy().await {
                        tracing::warn!(error = %e, "reading the policy failed; the last one stays in force");
                    }
                }
            }),
            every(crate::keyring::WATCH_EVERY, move || {
                let ctx = keys.clone();
                async move {
                    if let Err(e) = ctx.keys.refresh(&ctx.store, &ctx.master).await {
                        tracing::warn!(error = %e, "reading the service keys failed; the last ones stay in force");
                    }
                }
            }),
        ]
    }
}

/// Runs `job` at every tick of `period`, a late tick delayed rather than bunched.
fn every<F, Fut>(period: std::time::Duration, job: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            job().await;
        }
    })
}
