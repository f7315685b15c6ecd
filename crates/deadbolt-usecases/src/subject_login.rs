//! A subject's sign-in: its client checked the first factor itself and named it in a signed
//! request, so what is left is everything after a right password (risk and location rules,
//! a trusted device, the second factor or its enrolment), exactly as for a password login.

use crate::client::ClientInfo;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::login::{self, FirstFactor, LoginOutcome};
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::secret::Secret;
use deadbolt_store::AuthorizationRecord;

/// Signs in the subject a checked, waiting request names (the request's signature is the
/// client's word for the first factor; nothing else can start this).
pub async fn start(
    ctx: &Context,
    client: &ClientInfo,
    request: &AuthorizationRecord,
    device_token: Option<&Secret>,
) -> DomainResult<LoginOutcome> {
    let subject = request.subject.ok_or(DomainError::NotFound)?;
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
