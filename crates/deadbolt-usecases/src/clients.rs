//! OpenID Connect clients (relying parties): registered, listed, given a new secret and deleted
//! by an administrator under step-up `client.manage`, or by an operator at the machine
//! (`deadbolt clients`). A confidential client's secret is shown once and stored only as a
//! keyed hash, as API keys are.

use crate::admin::require_admin;
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::stepup::{self, GrantUse};
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::AccountId;
use deadbolt_core::oidc_client::{self, ClientInput};
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_store::{BatchOutcome, ClientRecord};
use serde_json::json;

/// A client just registered, or just given a new secret: the secret (confidential clients
/// only) is in here, and nowhere else, ever again.
pub struct NewClient {
    pub record: ClientRecord,
    pub secret: Option<Secret>,
}

/// Who does it: an administrator's session, or the operator at the machine.
enum Actor<'a> {
    Admin(&'a Principal, AccountId),
    Operator,
}

impl Actor<'_> {
    async fn grant(&self, ctx: &Context) -> DomainResult<Option<GrantUse>> {
        match self {
            Self::Admin(who, _) => Ok(Some(
                stepup::require(ctx, who, Action::CLIENT_MANAGE).await?,
            )),
            Self::Operator => Ok(None),
        }
    }

    fn account(&self) -> Option<AccountId> {
        match self {
            Self::Admin(_, id) => Some(*id),
            Self::Operator => None,
        }
    }

    fn detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        detail["by"] = match self {
            Self::Admin(_, id) => json!(id),
            Self::Operator => json!("operator"),
        };
        detail
    }
}

async fn admin<'a>(ctx: &Context, who: &'a Principal) -> DomainResult<Actor<'a>> {
    let account = require_admin(ctx, who).await?;
    Ok(Actor::Admin(who, account.id))
}

/// Registers a client (an administrator, step-up `client.manage`).
pub async fn create(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    input: ClientInput,
) -> DomainResult<NewClient> {
    let actor = admin(ctx, who).await?;
    create_as(ctx, client, &actor, input).await
}

/// Registers a client for the operator at the machine (`deadbolt clients create`).
pub async fn create_by_operator(ctx: &Context, input: ClientInput) -> DomainResult<NewClient> {
    create_as(ctx, &ClientInfo::default(), &Actor::Operator, input).await
}

async fn create_as(
    ctx: &Context,
    client: &ClientInfo,
    actor: &Actor<'_>,
    input: ClientInput,
) -> DomainResult<NewClient> {
    // the input is judged before the step-up is spent on it
    let settings = oidc_client::check(input)?;
    let jwks = settings
        .jwks
        .as_ref()
        .map(crate::oidc::request_object::check_keys)
        .transpose()?;
    let grant = actor.grant(ctx).await?;
    let secret = (!settings.public).then(|| oidc_client::generate_secret(ctx.rng.as_ref()));
    let hashing = ctx.keys.hashing();
    let record = ClientRecord {
        client_id: oidc_client::generate_id(ctx.rng.as_ref()),
        name: settings.name,
        redirect_uris: settings.redirect_uris,
        post_logout_redirect_uris: settings.post_logout_redirect_uris,
        public: settings.public,
        first_party: settings.first_party,
        grants: settings
            .grants
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: settings.scopes,
        id_token_alg: settings.id_token_alg.as_str().to_owned(),
        secret_hash: secret
            .as_ref()
            .map(|s| hashing.live().hasher.hash_token(s).0.to_vec()),
        hash_key_id: secret.as_ref().map(|_| hashing.live().id.clone()),
        created_at: ctx.clock.now(),
        created_by: actor.account(),
        secret_rotated_at: None,
        deleted_at: None,
        jwks,
    };
    let created = event(
        ctx,
        EventKind::ClientCreated,
        actor.account(),
        client,
        actor.detail(json!({
            "client_id": record.client_id,
            "name": record.name,
            "public": record.public,
            "first_party": record.first_party,
            "redirect_uris": record.redirect_uris,
            "grants": record.grants,
            "signs_requests": record.jwks.is_some(),
        })),
    );
    stepup::commit_with(ctx, grant, vec![record.insert(), created.write()]).await?;
    Ok(NewClient { record, secret })
}

/// Every live client (never a secret: only hashes are stored, and views leave them out).
pub async fn list(ctx: &Context, who: &Principal) -> DomainResult<Vec<ClientRecord>> {
    require_admin(ctx, who).await?;
    list_by_operator(ctx).await
}

pub async fn list_by_operator(ctx: &Context) -> DomainResult<Vec<ClientRecord>> {
    Ok(ctx.store.clients().await?)
}

/// Gives a confidential client a new secret, shown once; the old one stops working.
pub async fn rotate_secret(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    client_id: &str,
) -> DomainResult<NewClient> {
    let actor = admin(ctx, who).await?;
    rotate_as(ctx, client, &actor, client_id).await
}

pub async fn rotate_secret_by_operator(ctx: &Context, client_id: &str) -> DomainResult<NewClient> {
    rotate_as(ctx, &ClientInfo::default(), &Actor::Operator, client_id).await
}

async fn live(ctx: &Context, client_id: &str) -> DomainResult<ClientRecord> {
    if !oidc_client::looks_like_a_client_id(client_id) {
        return Err(DomainError::NotFound);
    }
    ctx.store
        .client(client_id)
        .await?
        .ok_or(DomainError::NotFound)
}

async fn rotate_as(
    ctx: &Context,
    client: &ClientInfo,
    actor: &Actor<'_>,
    client_id: &str,
) -> DomainResult<NewClient> {
    let mut record = live(ctx, client_id).await?;
    if record.public {
        return Err(DomainError::InvalidRequest(
            "client_id: a public client has no secret to rotate".into(),
        ));
    }
    let grant = actor.grant(ctx).await?;
    let secret = oidc_client::generate_secret(ctx.rng.as_ref());
    let hashing = ctx.keys.hashing();
    let hash = hashing.live().hasher.hash_token(&secret).0.to_vec();
    let now = ctx.clock.now();
    let rotated = event(
        ctx,
        EventKind::ClientSecretRotated,
        actor.account(),
        client,
        actor.detail(json!({"client_id": record.client_id})),
    );
    let writes = vec![
        ClientRecord::rotate_secret(&record.client_id, hash.clone(), &hashing.live().id, now),
        rotated.write(),
    ];
    match stepup::commit_with(ctx, grant, writes).await? {
        BatchOutcome::Committed => {}
        // deleted meanwhile by a parallel request
        BatchOutcome::GuardFailed(_) => return Err(DomainError::NotFound),
    }
    record.secret_hash = Some(hash);
    record.hash_key_id = Some(hashing.live().id.clone());
    record.secret_rotated_at = Some(now);
    Ok(NewClient {
        record,
        secret: Some(secret),
    })
}

/// Replaces the keys a confidential client signs request objects with (a rotation: the new
/// set, which may still hold the old key while the client moves over), or removes them.
pub async fn set_keys(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    client_id: &str,
    jwks: Option<serde_json::Value>,
) -> DomainResult<ClientRecord> {
    let actor = admin(ctx, who).await?;
    set_keys_as(ctx, client, &actor, client_id, jwks).await
}

pub async fn set_keys_by_operator(
    ctx: &Context,
    client_id: &str,
    jwks: Option<serde_json::Value>,
) -> DomainResult<ClientRecord> {
    set_keys_as(
        ctx,
        &ClientInfo::default(),
        &Actor::Operator,
        client_id,
        jwks,
    )
    .await
}

async fn set_keys_as(
    ctx: &Context,
    client: &ClientInfo,
    actor: &Actor<'_>,
    client_id: &str,
    jwks: Option<serde_json::Value>,
) -> DomainResult<ClientRecord> {
    let mut record = live(ctx, client_id).await?;
    if record.public {
        return Err(DomainError::InvalidRequest(
            "jwks: a public client cannot sign requests".into(),
        ));
    }
    let jwks = jwks
        .as_ref()
        .map(crate::oidc::request_object::check_keys)
        .transpose()?;
    let grant = actor.grant(ctx).await?;
    let replaced = event(
        ctx,
        EventKind::ClientKeysReplaced,
        actor.account(),
        client,
        actor.detail(json!({"client_id": record.client_id, "signs_requests": jwks.is_some()})),
    );
    let writes = vec![
        ClientRecord::set_keys(&record.client_id, jwks.as_deref()),
        replaced.write(),
    ];
    match stepup::commit_with(ctx, grant, writes).await? {
        BatchOutcome::Committed => {}
        BatchOutcome::GuardFailed(_) => return Err(DomainError::NotFound),
    }
    record.jwks = jwks;
    Ok(record)
}

/// Deletes a client: its id never authenticates again, and is never given out again.
pub async fn delete(
    ctx: &Context,
    client: &ClientInfo,
    who: &Principal,
    client_id: &str,
) -> DomainResult<()> {
    let actor = admin(ctx, who).await?;
    delete_as(ctx, client, &actor, client_id).await
}

pub async fn delete_by_operator(ctx: &Context, client_id: &str) -> DomainResult<()> {
    delete_as(ctx, &ClientInfo::default(), &Actor::Operator, client_id).await
}

async fn delete_as(
    ctx: &Context,
    client: &ClientInfo,
    actor: &Actor<'_>,
    client_id: &str,
) -> DomainResult<()> {
    let record = live(ctx, client_id).await?;
    let grant = actor.grant(ctx).await?;
    let deleted = event(
        ctx,
        EventKind::ClientDeleted,
        actor.account(),
        client,
        actor.detail(json!({"client_id": record.client_id, "name": record.name})),
    );
    let writes = vec![
        ClientRecord::delete(&record.client_id, ctx.clock.now()),
        // its people were its to name: their factors, sessions and devices go with it
        deadbolt_store::delete_subjects_of(&record.client_id),
        deleted.write(),
    ];
    match stepup::commit_with(ctx, grant, writes).await? {
        BatchOutcome::Committed => Ok(()),
        // deleted meanwhile by a parallel request
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}
