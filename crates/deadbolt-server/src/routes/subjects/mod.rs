//! `/v1/subjects`: the server API for products that keep their own accounts and draw their own
//! screens. Every call is a confidential client's, authenticated with HTTP Basic
//! ([`ClientCaller`]), on one of its own subjects, named by the client's own identifier in the
//! path (percent-encoded). Another client's subject of the same name, and one that does not
//! exist, are alike: 404.

mod challenges;
mod mfa;

use super::mfa::{overview_of, MfaOverview};
use super::{BodyProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, Client, ClientCaller, JsonOrEmpty};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::account::Account;
use deadbolt_core::phone::Phone;
use deadbolt_usecases::client::ForSubject;
use deadbolt_usecases::subject_api::{self, ApiClient};
use deadbolt_usecases::subjects::{self, SubjectDetails};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_subject, get_subject, delete_subject))
        .merge(mfa::router())
        .merge(challenges::router())
}

/// The client's credentials, on every server-API call.
#[derive(IntoResponses)]
pub enum ClientProblems {
    /// `invalid_client`: no HTTP Basic credentials of a live confidential client (the answer
    /// carries `WWW-Authenticate: Basic realm="deadbolt"`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
}

/// The subject named in the path.
#[derive(IntoResponses)]
pub enum SubjectProblems {
    /// `invalid_request`: an `external_id` no client could have (empty, over 255 characters,
    /// control characters, outer spaces), or another path parameter that does not parse.
    #[response(status = 400, content_type = "application/problem+json")]
    BadPath(Problem),
    /// `not_found`: the client has no subject of this name (or no such method or challenge).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// The subject named in the path, and the body.
#[derive(IntoResponses)]
pub enum SubjectBodyProblems {
    /// `invalid_request`: malformed JSON, unknown fields, wrong types or missing fields; an
    /// `external_id` no client could have, or another path parameter that does not parse.
    /// `invalid_code`, `invalid_credential`, `wrong_origin`, `ceremony_expired`,
    /// `attestation_refused` where a confirmation says so.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// `not_found`: the client has no subject of this name (or no such method).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The body is larger than `server.max_body_bytes`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
}

/// Calls that have no limit of their own.
#[derive(IntoResponses)]
pub enum Throttled {
    /// `too_many_attempts`: too many wrong client credentials from this address lately (with
    /// Retry-After).
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
}

/// The client's subject the path names, to act for: 400 for a name no client could have given,
/// 404 for one it has not.
pub(crate) async fn subject_of(
    state: &AppState,
    client: &ApiClient,
    external_id: &str,
) -> ApiResult<(ForSubject, Account)> {
    let external_id = subject_api::external_id(external_id)?;
    Ok(subject_api::subject(state, client, &external_id).await?)
}

/// `null` clears a field, absence leaves it (serde reads both as None without this).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What the product states of its subject. A field that is present replaces what is stored,
/// an absent one leaves it, `null` clears an address or number. A changed address or number is
/// unverified unless the same request says otherwise.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    /// Where notices and emailed codes go.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email)]
    email: Option<Option<String>>,
    /// Whether the product has proven the address (only then can it carry codes).
    email_verified: Option<bool>,
    /// E.164 (`+12015550123`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "+12015550123")]
    phone_number: Option<Option<String>>,
    phone_number_verified: Option<bool>,
}

/// A subject as Deadbolt keeps it, with its second factors.
#[derive(Serialize, ToSchema)]
pub struct SubjectView {
    /// The client's own name for its subject.
    external_id: String,
    #[schema(format = Email)]
    email: Option<String>,
    email_verified: bool,
    phone_number: Option<String>,
    phone_number_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// Its methods, as `GET /v1/me/mfa` lists an account's.
    mfa: MfaOverview,
}

async fn view(state: &AppState, account: &Account) -> ApiResult<SubjectView> {
    Ok(SubjectView {
        external_id: account
            .subject_of
            .as_ref()
            .map(|s| s.external_id.as_str().to_owned())
            .unwrap_or_default(),
        email: account
            .has_email()
            .then(|| account.email.as_str().to_owned()),
        email_verified: account.email_verified,
        phone_number: account
            .phone
            .as_ref()
            .map(|p: &Phone| p.as_str().to_owned()),
        phone_number_verified: account.phone_verified,
        created_at: account.created_at,
        mfa: overview_of(state, account.id).await?,
    })
}

/// Creates the client's subject of this name, or updates what the product states of it: 201
/// when it was created, 200 otherwise. Body: the fields to set, or empty. The client's
/// credentials (HTTP Basic).
#[utoipa::path(put, path = "/v1/subjects/{external_id}", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded: 1 to 255 characters, no control characters")),
    request_body(content = Option<SubjectInput>), responses(
    (status = 201, description = "Created", body = SubjectView),
    (status = 200, description = "Updated (or unchanged)", body = SubjectView),
    BodyProblems,
    (status = 400, description = "`invalid_request` (the body, or an `external_id` no client could have), `invalid_email`, `invalid_phone`", body = Problem, content_type = "application/problem+json"),
    (status = 412, description = "`precondition_failed`: the subject changed under three writes at once; send it again", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: a path that names no subject at all (an empty `external_id`)", body = Problem, content_type = "application/problem+json"),
    ClientProblems, Throttled, Unavailable,
))]
async fn put_subject(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<SubjectInput>,
) -> ApiResult<(StatusCode, Json<SubjectView>)> {
    subject_api::external_id(&external_id)?;
    let details = SubjectDetails {
        external_id,
        email: body.email,
        email_verified: body.email_verified,
        phone_number: body.phone_number,
        phone_number_verified: body.phone_number_verified,
    };
    let done = subjects::put(&state, &info, client.client_id(), &details).await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&state, &done.account).await?)))
}

/// The client's subject of this name, with its second factors and whether MFA is on.
#[utoipa::path(get, path = "/v1/subjects/{external_id}", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    responses(
    (status = 200, body = SubjectView),
    ClientProblems, SubjectProblems, Throttled, Unavailable,
))]
async fn get_subject(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    ApiPath(external_id): ApiPath<String>,
) -> ApiResult<Json<SubjectView>> {
    let (_, account) = subject_of(&state, &client, &external_id).await?;
    Ok(Json(view(&state, &account).await?))
}

/// Removes the client's subject with everything Deadbolt kept for it (its second factors,
/// sessions and trusted devices); its security events stay.
#[utoipa::path(delete, path = "/v1/subjects/{external_id}", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    responses(
    (status = 204, description = "Removed"),
    ClientProblems, SubjectProblems, Throttled, Unavailable,
))]
async fn delete_subject(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    subject_api::external_id(&external_id)?;
    subjects::delete(&state, &info, client.client_id(), &external_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
