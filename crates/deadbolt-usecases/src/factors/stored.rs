//! Opening what a factor keeps: a TOTP secret sealed under the master key, a recovery code
//! hashed under a service key.

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::master_key::Sealed;
use deadbolt_core::account::Account;
use deadbolt_core::ids::MethodId;
use deadbolt_core::recovery;
use deadbolt_core::secret::Secret;
use deadbolt_core::totp::{TotpAlgorithm, TotpParams, TotpSecret};
use deadbolt_store::TotpRecord;

/// The AEAD associated data of a TOTP secret: the method it belongs to.
pub fn totp_aad(method: MethodId) -> Vec<u8> {
    format!("deadbolt/totp/{method}").into_bytes()
}

pub fn open_totp(ctx: &Context, rec: &TotpRecord) -> DomainResult<(TotpSecret, TotpParams)> {
    let sealed = Sealed {
        nonce: rec.nonce.clone(),
        ciphertext: rec.ciphertext.clone(),
    };
    let plain = ctx
        .master
        .open(&rec.master_key_id, &sealed, &totp_aad(rec.method_id))
        .map_err(DomainError::Internal)?;
    let params = TotpParams {
        algorithm: TotpAlgorithm::parse(&rec.algorithm)
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("stored TOTP algorithm")))?,
        digits: rec.digits,
        period_seconds: rec.period_seconds,
        skew_steps: ctx.policy.get().totp.skew_steps,
    };
    Ok((TotpSecret::from_bytes(plain.to_vec()), params))
}

/// Authenticator apps show codes as `123 456`; people paste them so.
pub fn clean_code(code: &Secret) -> Secret {
    Secret::new(
        code.expose()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>(),
    )
}

/// The account's unused recovery code `normalized` names, under any hashing key still kept (a
/// code has no end, so it keeps the key it was hashed with until it is spent).
pub(super) async fn recovery_code(
    ctx: &Context,
    account: &Account,
    normalized: &str,
) -> DomainResult<Option<deadbolt_store::RecoveryCodeRecord>> {
    for k in ctx.keys.hashing().all() {
        let lookup = recovery::lookup_key(&k.hasher, account.id, normalized);
        if let Some(row) = ctx.store.recovery_code(&lookup.0).await? {
            return Ok(Some(row).filter(|r| r.account_id == account.id && r.used_at.is_none()));
        }
    }
    Ok(None)
}
