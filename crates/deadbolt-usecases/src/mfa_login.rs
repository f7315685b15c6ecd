//! The second step of a login: an mfa_token and a second factor become a session.

use crate::challenge::{self, Answering, Purpose};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::devices::{self, SignInDevice};
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factors::{self, FactorInput};
use crate::methods;
use crate::sessions::{self, IssuedTokens};
use crate::{login, mfa, risk};
use deadbolt_core::auth;
use deadbolt_core::event::EventKind;
use deadbolt_core::secret::Secret;
use deadbolt_store::{device_reads, throttle_writes, EventRecord};
use serde_json::json;

pub struct MfaVerify {
    pub mfa_token: Secret,
    /// `SignIn` on the hosted pages, `SignInApi` through the JSON API.
    pub answering: Answering,
    pub factor: FactorInput,
    pub trust_device: bool,
}

/// A signed-in answer, with a device token when one was asked for.
pub struct SecondStep {
    pub tokens: IssuedTokens,
    pub device_token: Option<Secret>,
}

pub async fn verify(
    ctx: &Context,
    client: &ClientInfo,
    input: MfaVerify,
) -> DomainResult<SecondStep> {
    let pending = challenge::pending(ctx, &input.mfa_token, input.answering).await?;
    let account = pending.account();
    // where the account may sign in from holds for the second step too
    risk::ensure_location_allowed(ctx, client, account, &risk::place_of(ctx, client)).await?;
    let email_check = *pending.purpose() == Purpose::EmailCheck;
    if email_check && methods::is_enabled(&ctx.store.methods_of(account.id).await?) {
        // MFA came on meanwhile: an emailed code no longer stands in for it
        return Err(DomainError::MfaTokenInvalid);
    }
    // the device is looked up with the factor check's own reads (no longer best effort here:
    // a store that fails this read has failed the check's reads too)
    let device_key = devices::device_key(ctx, client, account);
    let (proof, last_seen) = factors::check_with(
        ctx,
        client,
        &pending,
        input.factor,
        device_reads::last_seen(account.id, &device_key),
    )
    .await?;
    let device = SignInDevice::seen(device_key, last_seen)
        .or_under_retired_keys(ctx, client, account)
        .await?;
    let methods = [login::first_factor_of(account), proof.auth];
    // an emailed check is no enrolment: where policy requires MFA, the session may only enroll
    let enrollment_only = email_check && mfa::required_by_policy(ctx, account);
    let (session, refresh, mut writes) =
        sessions::prepare_limited(ctx, client, account, &methods, enrollment_only);
    // the password's failures end with a completed sign-in, not with the right password alone
    // (a subject has no password here: the address its product states is not its to clear)
    if account.subject_of.is_none() {
        writes.push(throttle_writes::clear_failures(&login::email_bucket(
            ctx,
            account.email.as_str(),
        )));
    }
    let detail = json!({"amr": auth::amr(&methods), "method_id": proof.method.id});
    let mut events: Vec<EventRecord> = vec![event(
        ctx,
        EventKind::LoginSucceeded,
        Some(account.id),
        client,
        detail,
    )];
    // a device is trusted to stand in for a second factor; an emailed check is not one
    let device_token = if input.trust_device && !email_check {
        let (secret, device) = devices::issue(ctx, account, client);
        writes.push(device.insert());
        events.push(event(
            ctx,
            EventKind::DeviceTrusted,
            Some(account.id),
            client,
            json!({"device_id": device.id}),
        ));
        Some(secret)
    } else {
        None
    };
    writes.extend(events.iter().map(EventRecord::write));
    writes.extend(device.writes(ctx, account));
    writes.extend(risk::sign_in_writes(ctx, client, account));
    factors::finish(ctx, client, &pending, proof, writes).await?;
    device.tell_if_new(ctx, client, account).await;
    ctx.metrics.login("success");
    let tokens = sessions::issue(ctx, &session, refresh, session.created_at)?;
    Ok(SecondStep {
        tokens,
        device_token,
    })
}
