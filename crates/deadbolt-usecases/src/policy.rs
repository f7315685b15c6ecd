//! Reading and replacing the central policy: administrators with a second factor, and a
//! step-up `policy.change` for every change; each change is an event with before and after.

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::methods;
use crate::{admin, stepup};
use deadbolt_core::event::EventKind;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::policy::{Policy, PolicyProblem};
use deadbolt_core::stepup::Action;
use deadbolt_store::BatchOutcome;
use deadbolt_store::MethodRecord;
use serde_json::json;
use std::sync::Arc;

/// The policy in force and its version.
pub async fn current(ctx: &Context, who: &Principal) -> DomainResult<(i64, Arc<Policy>)> {
    admin::require_admin(ctx, who).await?;
    Ok((ctx.policy.version(), ctx.policy.get()))
}

/// Reads a submitted policy: the whole document, every field named when wrong. Public so that
/// the fuzz targets check the very parse an administrator's document goes through.
pub fn parse(body: serde_json::Value) -> DomainResult<Policy> {
    let policy: Policy = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // a missing field is reported at its parent: name the field itself
        let named = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "policy".to_owned(),
            (parent, Some(name)) => format!("{parent}.{name}"),
            (path, None) => path.to_owned(),
        };
        DomainError::InvalidPolicy {
            problems: vec![PolicyProblem {
                field: field.clone(),
                message: message.clone(),
            }],
            field,
            message,
        }
    })?;
    Ok(policy)
}

/// The problems of a policy on this instance, submitted by an administrator whose methods are
/// `admin_methods`.
fn problems(
    ctx: &Context,
    policy: &Policy,
    admin_methods: Vec<MethodRecord>,
) -> Vec<PolicyProblem> {
    let mut out = policy.problems_in(&ctx.deployment());
    let kinds: Vec<MethodKind> = methods::usable_methods(admin_methods)
        .iter()
        .map(|m| m.kind)
        .collect();
    out.extend(policy.submitter_problem(&kinds));
    out
}

/// Replaces the policy with the submitted document, checked before the step-up is spent. With
/// `expected` (the version the administrator read, from `If-Match`), a change made meanwhile by
/// another administrator answers 412 instead of being overwritten; without it the last writer
/// wins, and the event's `before` is what it replaced.
pub async fn replace(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    submitted: serde_json::Value,
    expected: Option<i64>,
) -> DomainResult<(i64, Arc<Policy>)> {
    let admin = admin::require_admin(ctx, who).await?;
    let policy = parse(submitted)?;
    let admin_methods = ctx.store.methods_of(admin.id).await?;
    let problems = problems(ctx, &policy, admin_methods);
    if let Some(first) = problems.first() {
        return Err(DomainError::InvalidPolicy {
            field: first.field.clone(),
            message: first.message.clone(),
            problems,
        });
    }
    let document = serde_json::to_string(&policy)
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("policy to JSON: {e}")))?;
    let seed = ctx.config.policy_seed();
    // a parallel change moves the version on: read again and retry, a few times
    for _ in 0..3 {
        let grant = stepup::require(ctx, who, Action::POLICY_CHANGE).await?;
        let stored = ctx
            .store
            .policy()
            .await?
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("no stored policy")))?;
        if expected.is_some_and(|v| v != stored.version) {
            return Err(DomainError::PreconditionFailed);
        }
        let before = crate::live_policy::parse_stored(&stored.document, &seed)
            .map_err(DomainError::Internal)?;
        let version = stored.version + 1;
        let changed = event(
            ctx,
            EventKind::PolicyChanged,
            Some(admin.id),
            client,
            json!({"version": version, "before": before, "after": policy}),
        );
        let writes = vec![
            stored.replace(document.clone(), ctx.clock.now(), admin.id),
            changed.write(),
        ];
        match stepup::commit_with(ctx, Some(grant), writes).await? {
            BatchOutcome::Committed => {
                ctx.policy.set(version, policy);
                return Ok((version, ctx.policy.get()));
            }
            BatchOutcome::GuardFailed(_) => continue,
        }
    }
    Err(DomainError::Unavailable)
}
