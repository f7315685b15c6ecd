//! A push request as the waiting side's answer: approved (spent with the challenge), still
//! waiting, denied or expired.

use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use deadbolt_core::account::Account;
use deadbolt_core::ids::ApprovalId;
use deadbolt_store::{push_writes, ApprovalRecord, ApprovalState, ChallengeRecord, Write};

/// The request `id` of this challenge; one another challenge made is no answer to this one.
pub(super) async fn approval_of(
    ctx: &Context,
    account: &Account,
    challenge: &ChallengeRecord,
    id: ApprovalId,
) -> DomainResult<ApprovalRecord> {
    ctx.store
        .approval(id)
        .await?
        .filter(|a| a.account_id == account.id && a.challenge_hash == challenge.token_hash)
        .ok_or_else(|| {
            DomainError::InvalidRequest("no push request with that id for this challenge".into())
        })
}

/// The write that spends an approved request (a guard: it signs in once); the reason for any
/// other state.
pub(super) fn verdict(ctx: &Context, a: &ApprovalRecord) -> DomainResult<Write> {
    match a.state {
        ApprovalState::Approved => Ok(push_writes::spend(a.id)),
        ApprovalState::Pending if ctx.clock.now() < a.expires_at => {
            Err(DomainError::AuthorizationPending)
        }
        ApprovalState::Denied => Err(DomainError::AccessDenied),
        // expired, or already spent: as a challenge past its time
        ApprovalState::Pending | ApprovalState::Expired | ApprovalState::Used => {
            Err(DomainError::MfaTokenInvalid)
        }
    }
}
