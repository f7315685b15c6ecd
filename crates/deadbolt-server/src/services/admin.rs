//! What operators may do, and who counts as one: an account with the `admin` role, signed in
//! with a second factor (an administrator's password alone must not open the admin surface).

use crate::error::{ApiError, ApiResult};
use crate::extract::Principal;
use crate::services::sessions::account_of;
use crate::state::AppState;
use deadbolt_core::account::Account;
use deadbolt_core::ids::MessageId;
use deadbolt_store::DeadLetter;
use time::OffsetDateTime;

/// The caller, if an administrator who signed in with two factors.
pub async fn require_admin(state: &AppState, who: &Principal) -> ApiResult<Account> {
    let account = account_of(state, who).await?;
    if !account.roles.iter().any(|r| r.as_str() == "admin") {
        return Err(ApiError::Forbidden("this needs the admin role"));
    }
    if !who.session.amr.iter().any(|v| v == "mfa") {
        return Err(ApiError::Forbidden(
            "administrators must sign in with a second factor",
        ));
    }
    Ok(account)
}

/// Messages the outbox gave up on, newest first.
pub async fn dead_letters(
    state: &AppState,
    who: &Principal,
    before: Option<(OffsetDateTime, MessageId)>,
    limit: u32,
) -> ApiResult<Vec<DeadLetter>> {
    require_admin(state, who).await?;
    Ok(state.store.dead_letters(before, limit).await?)
}

/// Puts a dead message back in the queue for a fresh round of tries.
pub async fn retry_dead_letter(state: &AppState, who: &Principal, id: MessageId) -> ApiResult<()> {
    require_admin(state, who).await?;
    if !state.store.retry_dead_letter(id, state.clock.now()).await? {
        return Err(ApiError::NotFound);
    }
    state.outbox_wake.notify_one();
    Ok(())
}
