//! The assertion of a check: a short-lived JWT, signed with the service's keys (as the client's
//! ID tokens are, EdDSA or RS256), that a product keeps as evidence that its subject passed a
//! second factor. Verifiable with the JWKS at `/.well-known/jwks.json`; its `typ` tells it from
//! every other token the service signs.

use super::ApiClient;
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::jwt;
use deadbolt_core::ids::EventId;
use deadbolt_core::stepup::Action;
use serde::Serialize;
use time::Duration;

/// The header's `typ`: the product checks it, so that no other token passes for an assertion.
pub const TYP: &str = "mfa-assertion+jwt";

/// How long an assertion is good for: it records a check, it grants nothing.
pub const LIFETIME: Duration = Duration::minutes(5);

/// What was checked: a sign-in's second factor, or a step-up for the product's action.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckedFor {
    /// `login` or `step_up`.
    pub purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl CheckedFor {
    pub fn of(action: Option<&Action>) -> Self {
        match action {
            None => Self {
                purpose: "login",
                action: None,
            },
            Some(action) => Self {
                purpose: "step_up",
                action: Some(action.as_str().to_owned()),
            },
        }
    }
}

/// The claims of an assertion.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionClaims {
    /// The issuer, as the discovery document says it.
    pub iss: String,
    /// The client that asked for the check.
    pub aud: String,
    /// The client's own name for its subject.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// When the factor was checked (the same instant as `iat`).
    pub auth_time: i64,
    pub jti: uuid::Uuid,
    pub amr: Vec<String>,
    pub acr: String,
    pub challenge: CheckedFor,
}

/// The claims for a check of `sub` that passed now, with `amr` and `acr`.
pub fn claims(
    ctx: &Context,
    client: &ApiClient,
    sub: &str,
    amr: Vec<String>,
    acr: String,
    challenge: CheckedFor,
) -> AssertionClaims {
    let now = ctx.clock.now().unix_timestamp();
    AssertionClaims {
        iss: crate::oidc::issuer(ctx),
        aud: client.client_id.clone(),
        sub: sub.to_owned(),
        iat: now,
        exp: now + LIFETIME.whole_seconds(),
        auth_time: now,
        jti: EventId::generate(ctx.rng.as_ref()).0,
        amr,
        acr,
        challenge,
    }
}

/// Signs the claims with the live key of the algorithm the client takes its ID tokens in.
pub fn sign(ctx: &Context, client: &ApiClient, claims: &AssertionClaims) -> DomainResult<String> {
    jwt::sign_with(&ctx.keys, client.alg, TYP, claims)
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("signing an assertion: {e}")))
}
