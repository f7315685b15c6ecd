//! A subject's sign-in: its client checked the first factor itself and named it in a signed
//! request, so what is left is everything after a right password (risk and location rules,
//! a trusted device, the second factor or its enrolment), exactly as for a password login.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::login::{self, FirstFactor, LoginOutcome};
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::secret::Secret;
use deadbolt_store::{AuthorizationRecord, BatchOutcome};

/// Signs in the subject a checked, waiting request names (the request's signature is the
/// client's word for the first factor; nothing else can start this). A request's subject
/// sign-in is begun once: `resumed` says the browser already holds that subject's session
/// from it (it has just set up its first factor), else it is begun here, and a second
/// beginning (another browser that learnt the request's id) is refused.
pub async fn start(
    ctx: &Context,
    client: &ClientInfo,
    request: &AuthorizationRecord,
    device_token: Option<&Secret>,
    resumed: bool,
) -> DomainResult<LoginOutcome> {
    let subject = request.subject.ok_or(DomainError::NotFound)?;
    if !resumed {
        let begin = AuthorizationRecord::start_subject_sign_in(&request.id, ctx.clock.now());
        if ctx.commit(vec![begin]).await? != BatchOutcome::Committed {
            return Err(DomainError::PreconditionFailed);
        }
    }
    let account = ctx
        .store
        .account_by_id(subject)
        .await?
        .filter(|a| {
            a.subject_of
                .as_ref()
                .is_some_and(|s| s.client_id == request.client_id)
        })
        .ok_or(DomainError::NotFound)?;
    let first = FirstFactor {
        method: AuthMethod::ClientAsserted,
        recent_failures: 0,
    };
    login::after_first_factor(ctx, client, account, first, device_token).await
}
