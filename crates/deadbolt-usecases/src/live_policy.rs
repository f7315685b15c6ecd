//! The policy in force on this instance. The database holds it (seeded from the config at the
//! first start); each instance keeps a copy, which it replaces at its own changes at once and
//! at another instance's within [`WATCH_EVERY`].

use anyhow::Context as _;
use deadbolt_config::Config;
use deadbolt_core::clock::Clock;
use deadbolt_core::policy::Policy;
use deadbolt_store::Store;
use std::sync::{Arc, RwLock};

/// How often an instance looks for a change made by another.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The policy in force and its stored version.
pub struct PolicyCell {
    current: RwLock<(i64, Arc<Policy>)>,
}

impl PolicyCell {
    pub fn new(version: i64, policy: Policy) -> Self {
        Self {
            current: RwLock::new((version, Arc::new(policy))),
        }
    }

    pub fn get(&self) -> Arc<Policy> {
        // a poisoned lock still holds a whole policy: writers only swap the pair
        match self.current.read() {
            Ok(c) => c.1.clone(),
            Err(p) => p.into_inner().1.clone(),
        }
    }

    pub fn version(&self) -> i64 {
        match self.current.read() {
            Ok(c) => c.0,
            Err(p) => p.into_inner().0,
        }
    }

    /// Puts `policy` in force unless a newer version already is.
    pub fn set(&self, version: i64, policy: Policy) {
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if version > current.0 {
            *current = (version, Arc::new(policy));
        }
    }
}

/// A stored document over the seed: a section the document lacks (stored by an older version
/// that did not have it) takes the seed's, so an upgrade never fails on an old policy.
pub fn parse_stored(document: &str, seed: &Policy) -> anyhow::Result<Policy> {
    let stored: serde_json::Value =
        serde_json::from_str(document).context("the stored policy is not JSON")?;
    let mut merged = serde_json::to_value(seed)?;
    overlay(&mut merged, stored);
    serde_json::from_value(merged).context("the stored policy does not parse")
}

fn overlay(base: &mut serde_json::Value, top: serde_json::Value) {
    match (base, top) {
        (serde_json::Value::Object(b), serde_json::Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    // maps keyed by name (actions, locations) are replaced whole
                    Some(slot) if slot.is_object() && !is_named_map(&k) => overlay(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

fn is_named_map(key: &str) -> bool {
    matches!(key, "actions" | "locations")
}

/// Seeds the database on the first start, then loads what it holds.
pub async fn load(store: &Store, config: &Config, clock: &dyn Clock) -> anyhow::Result<PolicyCell> {
    let seed = config.policy_seed();
    store
        .seed_policy(&serde_json::to_string(&seed)?, clock.now())
        .await?;
    let stored = store
        .policy()
        .await?
        .context("the policy row is missing after seeding")?;
    let policy = parse_stored(&stored.document, &seed)?;
    Ok(PolicyCell::new(stored.version, policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_document_gets_the_new_sections_from_the_seed() {
        let seed = Config::default().policy_seed();
        let mut old = serde_json::to_value(&seed).unwrap();
        old.as_object_mut().unwrap().remove("risk");
        old["trusted_device_days"] = 7.into();
        let parsed = parse_stored(&old.to_string(), &seed).unwrap();
        assert_eq!(parsed.risk, seed.risk);
        assert_eq!(parsed.trusted_device_days, 7);
    }

    #[test]
    fn named_maps_are_replaced_not_merged() {
        let seed = Config::default().policy_seed();
        let mut stored = serde_json::to_value(&seed).unwrap();
        stored["step_up"]["actions"] = serde_json::json!({});
        let parsed = parse_stored(&stored.to_string(), &seed).unwrap();
        assert!(parsed.step_up.actions.is_empty());
    }

    #[test]
    fn a_newer_version_is_never_replaced_by_an_older_one() {
        let p = Config::default().policy_seed();
        let cell = PolicyCell::new(3, p.clone());
        let mut older = p.clone();
        older.trusted_device_days = 1;
        cell.set(2, older);
        assert_eq!(cell.get().trusted_device_days, p.trusted_device_days);
        let mut newer = p;
        newer.trusted_device_days = 2;
        cell.set(4, newer);
        assert_eq!((cell.version(), cell.get().trusted_device_days), (4, 2));
    }
}
