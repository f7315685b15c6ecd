//! The server API for products that keep their own accounts and draw their own screens: a
//! confidential client, authenticated by its own id and secret, creates its subjects, enrols
//! their second factors (through [`crate::mfa`], acting as [`Actor::Client`]), and checks them
//! ([`challenges`]), getting a signed assertion of each check ([`assertion`]).
//!
//! A client sees only its own subjects: another client's subject of the same name is another
//! account, and one it does not own is as unknown as one that does not exist.

pub mod assertion;
pub mod challenges;

use crate::attempts::{self, Bucket};
use crate::client::{Actor, ClientInfo, ForSubject};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::sessions::account_for;
use deadbolt_core::account::Account;
use deadbolt_core::oidc_client::{looks_like_a_client_id, SigningAlg};
use deadbolt_core::secret::Secret;
use deadbolt_core::subject::ExternalId;
use deadbolt_core::throttle::ThrottlePolicy;
use time::Duration;

/// A client that proved itself with its secret: who it is, and how its assertions are signed
/// (as its ID tokens are). Made only by [`authenticate`].
#[derive(Debug, Clone)]
pub struct ApiClient {
    client_id: String,
    alg: SigningAlg,
}

impl ApiClient {
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

/// The throttle of wrong client credentials from one address: the per-address limit of
/// password guesses (`[limits] login_failures_per_ip` within `login_window_seconds`).
fn throttle(ctx: &Context, client: &ClientInfo) -> Bucket {
    let limits = &ctx.config.limits;
    Bucket {
        key: client.ip.map_or_else(
            || "client_auth:ip:unknown".to_owned(),
            |ip| format!("client_auth:ip:{ip}"),
        ),
        policy: ThrottlePolicy {
            max_failures: limits.login_failures_per_ip,
            window: Duration::seconds(limits.login_window_seconds),
        },
    }
}

/// The live confidential client whose id and secret these are, as the token endpoint checks
/// them (a keyed hash under any hashing key the secret may have been made with). A public or
/// deleted client, an unknown id or a wrong secret is 401 `invalid_client`, counted against the
/// caller's address; past the limit they answer 429 `too_many_attempts`. Right credentials
/// always answer: a secret of 256 random bits is not guessed, and a product's server sharing
/// an address with someone sending junk must not be shut out by it (as with API key
/// introspection).
pub async fn authenticate(
    ctx: &Context,
    info: &ClientInfo,
    client_id: &str,
    secret: &Secret,
) -> DomainResult<ApiClient> {
    let found = if looks_like_a_client_id(client_id) {
        ctx.store.client(client_id).await?
    } else {
        None
    };
    let proven = found.filter(|c| {
        let Some(stored) = c.secret_hash.as_deref().filter(|_| !c.public) else {
            return false;
        };
        let hashing = ctx.keys.hashing();
        let matched = hashing
            .all()
            .filter(|k| c.hash_key_id.as_deref().is_none_or(|id| id == k.id))
            .any(|k| k.hasher.hash_token(secret).matches(stored));
        matched
    });
    if let Some(c) = proven {
        return Ok(ApiClient {
            alg: SigningAlg::parse(&c.id_token_alg).unwrap_or_default(),
            client_id: c.client_id,
        });
    }
    // counted under the address's bucket in one guarded write: of parallel wrong ones, those
    // past the limit find it full
    match attempts::reserve(ctx, vec![throttle(ctx, info)]).await? {
        Ok(counted) => {
            counted.keep();
            Err(DomainError::InvalidClient)
        }
        Err(full) => Err(DomainError::TooManyAttempts {
            retry_after: full.retry_after,
        }),
    }
}

/// Parses a subject's name as a path gives it: 400 `invalid_request` (saying why) for one no
/// client could have given it.
pub fn external_id(raw: &str) -> DomainResult<ExternalId> {
    Ok(ExternalId::parse(raw)?)
}

/// The client's subject of this name, to act for: 404 when the client has none (another
/// client's subject of the same name is not its).
pub async fn subject(
    ctx: &Context,
    client: &ApiClient,
    external_id: &ExternalId,
) -> DomainResult<(ForSubject, Account)> {
    let account = ctx
        .store
        .subject(&client.client_id, external_id)
        .await?
        .ok_or(DomainError::NotFound)?;
    Ok((
        ForSubject::new(client.client_id.clone(), account.id),
        account,
    ))
}

/// The subject acted for, read again (404 once it is gone).
pub(crate) async fn account(ctx: &Context, subject: &ForSubject) -> DomainResult<Account> {
    account_for(ctx, Actor::Client(subject)).await
}
