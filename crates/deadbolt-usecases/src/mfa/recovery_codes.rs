//! Recovery codes: the fallback set made when MFA comes on, shown once, and made anew on request.

use crate::client::{Actor, ClientInfo};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::methods;
use crate::notice::Notice;
use crate::notify::notice;
use crate::sessions::account_for;
use crate::stepup;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, MethodId, RecoveryCodeId};
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::recovery;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_store::{method_writes, MethodRecord, RecoveryCodeRecord};
use serde_json::json;

/// New recovery codes: the codes to show once, and the rows to store (Argon2id, per-code salt).
pub(super) async fn new_recovery_codes(
    ctx: &Context,
    account: AccountId,
) -> DomainResult<(Vec<Secret>, Vec<RecoveryCodeRecord>)> {
    let now = ctx.clock.now();
    let hashing = ctx.keys.hashing();
    let codes: Vec<Secret> = (0..recovery::RECOVERY_CODE_COUNT)
        .map(|_| recovery::generate(ctx.rng.as_ref()))
        .collect();
    let normalized: Vec<Secret> = codes
        .iter()
        .map(|c| Secret::new(recovery::normalize(c.expose()).unwrap_or_default()))
        .collect();
    let hasher = ctx.passwords.clone();
    let rng = ctx.rng.clone();
    let to_hash = normalized.clone();
    let hashes = ctx
        .hash_pool
        .run(move || {
            to_hash
                .iter()
                .map(|c| hasher.hash(c, rng.as_ref()))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("argon2: {e}")))?;
    let rows = normalized
        .iter()
        .zip(hashes)
        .map(|(n, h)| RecoveryCodeRecord {
            id: RecoveryCodeId::generate(ctx.rng.as_ref()),
            account_id: account,
            lookup: recovery::lookup_key(&hashing.live().hasher, account, n.expose())
                .0
                .to_vec(),
            hash: h.0,
            created_at: now,
            used_at: None,
            hash_key_id: Some(hashing.live().id.clone()),
        })
        .collect();
    Ok((codes, rows))
}

/// The row that stands for an account's recovery codes in its list of methods.
pub(super) fn recovery_method(ctx: &Context, account: AccountId) -> MethodRecord {
    let now = ctx.clock.now();
    MethodRecord {
        id: MethodId::generate(ctx.rng.as_ref()),
        account_id: account,
        kind: MethodKind::RecoveryCode,
        label: "Recovery codes".to_owned(),
        confirmed_at: Some(now),
        is_primary: false,
        created_at: now,
        last_used_at: None,
        consecutive_failures: 0,
        last_failure_at: None,
        disabled_at: None,
        enrolled_under_step_up: false,
        destination: None,
    }
}

/// New recovery codes (step-up `mfa.manage`); the old set dies.
pub async fn regenerate_recovery_codes(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
) -> DomainResult<Vec<Secret>> {
    let who = who.into();
    let account = account_for(ctx, who).await?;
    let methods = ctx.store.methods_of(account.id).await?;
    if !methods::is_enabled(&methods) {
        return Err(DomainError::InvalidRequest(
            "MFA is off: recovery codes come with the first method".into(),
        ));
    }
    let grant = stepup::require_for(ctx, who, Action::MFA_MANAGE).await?;
    let (codes, rows) = new_recovery_codes(ctx, account.id).await?;
    let mut writes = vec![method_writes::delete_recovery_codes(account.id)];
    writes.extend(rows.iter().map(RecoveryCodeRecord::insert));
    if !methods.iter().any(|m| m.kind == MethodKind::RecoveryCode) {
        writes.push(recovery_method(ctx, account.id).insert());
    }
    writes.push(
        event(
            ctx,
            EventKind::RecoveryCodesRegenerated,
            Some(account.id),
            client,
            json!({}),
        )
        .write(),
    );
    writes.extend(notice(ctx, &account, Notice::RecoveryCodesRenewed, client)?.map(|m| m.write()));
    stepup::commit_with(ctx, grant, writes).await?;
    Ok(codes)
}
