//! The HTTP surface. Each module owns its routes and documents them; [`router`] joins them,
//! and the OpenAPI document is generated from the same registrations, so a route cannot exist
//! without being documented.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod clients;
pub mod consents;
pub mod contact;
pub mod docs;
mod factor_input;
pub mod login;
pub mod me;
pub mod mfa;
pub mod oidc;
pub mod paging;
mod policy;
pub mod push;
pub mod reset;
pub mod service;
pub mod stepup;
pub mod subjects;
pub mod teams;
pub mod tokens;
pub mod views;

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::Router;
use deadbolt_usecases::DomainError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Deadbolt", description = "Accounts, sign-in and multi-factor authentication."),
    modifiers(&BearerAuth),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // the server API (`/v1/subjects`): a confidential client's id and secret
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Every route, and the OpenAPI document describing exactly those routes.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(service::router())
        .merge(accounts::router())
        .merge(login::router())
        .merge(tokens::router())
        .merge(me::router())
        .merge(push::router())
        .merge(consents::router())
        .merge(contact::router())
        .merge(admin::router())
        .merge(clients::router())
        .merge(policy::router())
        .merge(api_keys::router())
        .merge(teams::router())
        .merge(mfa::router())
        .merge(stepup::router())
        .merge(reset::router())
        .merge(subjects::router())
        .split_for_parts();
    docs::add_self(&mut api);
    let router = router
        // OAuth's own formats, outside the OpenAPI document: docs/oidc.md describes them
        .merge(oidc::router())
        .fallback(|| async { ApiError::from(DomainError::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    (router, api)
}

/// Problems any endpoint with a JSON body can answer.
#[derive(IntoResponses)]
pub enum BodyProblems {
    /// Malformed JSON, unknown fields, wrong types or missing fields.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// The body is larger than `server.max_body_bytes`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
}

/// Problems of endpoints that need a bearer access token.
#[derive(IntoResponses)]
pub enum AuthProblems {
    /// Missing, malformed, expired or revoked access token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
}

/// The database or the password-hashing pool cannot take the request now.
#[derive(IntoResponses)]
pub enum Unavailable {
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// What outlives a session (a second factor, an API key) refused to this account.
#[derive(IntoResponses)]
pub enum PlantProblems {
    /// `email_unverified` (the account's address is not proven yet), or `factor_not_allowed`
    /// (policy does not allow this kind of method).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Sending a code was refused for now.
#[derive(IntoResponses)]
pub enum SendProblems {
    /// `resend_too_soon` (wait `Retry-After` seconds), `too_many_attempts` (an hourly cap on
    /// codes per account or per destination; for a push request: another one waiting, the
    /// account's requests per window, or the pause after "this wasn't me"), or `mfa_locked`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
    /// `factor_not_allowed` (policy; for a push method, also an approver that signed out), or
    /// `authenticator_disabled`.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}
