//! `deadbolt keys rotate`: a new master key, and every sealed value re-sealed under it, while
//! running instances keep answering (they read the key file again when they meet the new key
//! id, and the old key stays in the file until `--prune`).

use crate::keyring::key_aad;
use crate::master_key::{MasterKeys, Sealed};
use crate::services::factors::totp_aad;
use deadbolt_core::random::Random;
use deadbolt_store::Store;
use std::path::Path;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub new_key_id: String,
    pub service_keys: usize,
    pub totp_secrets: usize,
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
    in_use.sort();
    in_use.dedup();
    MasterKeys::prune_file(key_file, &in_use)
}
