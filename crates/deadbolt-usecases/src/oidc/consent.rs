//! Consent: what a person allowed a third-party client, remembered per client until they take
//! it back from the security page (which also ends what the client holds).

use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use deadbolt_core::event::EventKind;
use deadbolt_store::{
    AuthorizationRecord, BatchOutcome, ClientRecord, ConsentRecord, OidcGrantRecord,
};
use serde_json::json;

/// A client the person allowed, with its name, for the security page.
pub struct Allowed {
    pub consent: ConsentRecord,
    pub client_name: String,
}

/// The waiting request's client, to show on the consent page.
pub async fn client_of(ctx: &Context, request: &AuthorizationRecord) -> DomainResult<ClientRecord> {
    ctx.store
        .client(&request.client_id)
        .await?
        .ok_or(DomainError::NotFound)
}

/// Records that the caller allows the request's client its scopes (with what it was allowed
/// before).
pub async fn grant(
    ctx: &Context,
    info: &ClientInfo,
    who: &Principal,
    request: &AuthorizationRecord,
) -> DomainResult<()> {
    let account = who.session.account_id;
    let mut scope: Vec<String> = match ctx.store.oidc_consent(account, &request.client_id).await? {
        Some(c) => c.scope.split_whitespace().map(str::to_owned).collect(),
        None => Vec::new(),
    };
    for s in request.scope.split_whitespace() {
        if !scope.iter().any(|c| c == s) {
            scope.push(s.to_owned());
        }
    }
    let consent = ConsentRecord {
        account_id: account,
        client_id: request.client_id.clone(),
        scope: scope.join(" "),
        granted_at: ctx.clock.now(),
    };
    let granted = event(
        ctx,
        EventKind::ConsentGranted,
        Some(account),
        info,
        json!({"client_id": consent.client_id, "scope": consent.scope}),
    );
    let prompt_left: Vec<&str> = request
        .prompt
        .split_whitespace()
        .filter(|p| *p != "consent")
        .collect();
    let mut writes = consent.upsert();
    writes.push(AuthorizationRecord::consent_given(
        &request.id,
        &prompt_left.join(" "),
    ));
    writes.push(granted.write());
    ctx.commit(writes).await?;
    Ok(())
}

/// The clients the caller allowed, newest first.
pub async fn list(ctx: &Context, who: &Principal) -> DomainResult<Vec<Allowed>> {
    let mut out = Vec::new();
    for consent in ctx.store.oidc_consents(who.session.account_id).await? {
        // a deleted client's consent is kept but shown no more
        if let Some(client) = ctx.store.client(&consent.client_id).await? {
            out.push(Allowed {
                consent,
                client_name: client.name,
            });
        }
    }
    Ok(out)
}

/// Takes back the caller's consent to `client_id` and ends every grant the client holds for
/// the account. `NotFound` when there was none.
pub async fn revoke(
    ctx: &Context,
    info: &ClientInfo,
    who: &Principal,
    client_id: &str,
) -> DomainResult<()> {
    let account = who.session.account_id;
    let revoked = event(
        ctx,
        EventKind::ConsentRevoked,
        Some(account),
        info,
        json!({"client_id": client_id}),
    );
    let mut writes = vec![ConsentRecord::delete(account, client_id)];
    writes.extend(OidcGrantRecord::revoke_client(
        account,
        client_id,
        ctx.clock.now(),
    ));
    writes.push(revoked.write());
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}
