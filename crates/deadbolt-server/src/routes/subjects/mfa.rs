//! `/v1/subjects/{external_id}/mfa`: a client enrols and manages its subject's second factors,
//! with the bodies and answers of `/v1/me/mfa` (the same functions make them). The client's
//! credentials are the authority: no session step-up is asked (see `client::Actor`); factor
//! policy, confirmation by code, limits, notices and events are as for any account.

use super::{subject_of, ClientProblems, SubjectBodyProblems, SubjectProblems, Throttled};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Client, ClientCaller, EmptyBody, JsonOrEmpty};
use crate::routes::mfa::{
    self as me, CodeEnrollment, ConfirmRequest, ConfirmResponse, EnrollEmail, EnrollPhone,
    EnrollTotp, EnrollWebauthn, MfaOverview, PrimaryRequest, PrimaryResponse, RecoveryCodes,
    TotpEnrollment, WebauthnEnrollment,
};
use crate::routes::views::CodeSentView;
use crate::routes::{PlantProblems, SendProblems, Unavailable};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::MethodId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_usecases::client::Actor;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(enroll_totp))
        .routes(routes!(enroll_email))
        .routes(routes!(enroll_sms))
        .routes(routes!(enroll_voice))
        .routes(routes!(enroll_webauthn))
        .routes(routes!(resend))
        .routes(routes!(confirm))
        .routes(routes!(set_primary))
        .routes(routes!(remove))
        .routes(routes!(regenerate))
}

/// The subject's methods, as `GET /v1/me/mfa` lists an account's.
#[utoipa::path(get, path = "/v1/subjects/{external_id}/mfa", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    responses(
    (status = 200, body = MfaOverview),
    ClientProblems, SubjectProblems, Throttled, Unavailable,
))]
async fn overview(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    ApiPath(external_id): ApiPath<String>,
) -> ApiResult<Json<MfaOverview>> {
    let (_, account) = subject_of(&state, &client, &external_id).await?;
    me::overview_of(&state, account.id).await.map(Json)
}

/// Starts a TOTP enrolment for the subject (pending until confirmed), as `POST
/// /v1/me/mfa/totp` does. Body: `{label?}`, or empty.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/totp", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body(content = Option<EnrollTotp>), responses(
    (status = 201, body = TotpEnrollment),
    ClientProblems, SubjectBodyProblems, PlantProblems, Throttled, Unavailable,
))]
async fn enroll_totp(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<EnrollTotp>,
) -> ApiResult<(StatusCode, Json<TotpEnrollment>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::start_totp(&state, &info, Actor::Client(&who), body).await
}

/// Starts an email-code enrolment: a code goes to the subject's verified email; confirm with
/// it. Body: `{label?}`, or empty. A subject without a verified email: 403 `email_unverified`.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/email", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body(content = Option<EnrollEmail>), responses(
    (status = 201, body = CodeEnrollment),
    ClientProblems, SubjectBodyProblems, SendProblems, Unavailable,
))]
async fn enroll_email(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<EnrollEmail>,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::start_email(&state, &info, Actor::Client(&who), body).await
}

/// Starts an SMS enrolment: a code is texted to `phone` (default: the subject's verified
/// number); confirm with it. Restricted: 403 `factor_not_allowed` unless policy allows SMS.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/sms", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body(content = Option<EnrollPhone>), responses(
    (status = 201, body = CodeEnrollment),
    ClientProblems, SubjectBodyProblems, SendProblems, Unavailable,
))]
async fn enroll_sms(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<EnrollPhone>,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::start_phone(&state, &info, Actor::Client(&who), MethodKind::Sms, body).await
}

/// Starts a voice enrolment: a call reads a code to `phone` (default: the subject's verified
/// number). Restricted: 403 `factor_not_allowed` unless policy allows voice.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/voice", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body(content = Option<EnrollPhone>), responses(
    (status = 201, body = CodeEnrollment),
    ClientProblems, SubjectBodyProblems, SendProblems, Unavailable,
))]
async fn enroll_voice(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<EnrollPhone>,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::start_phone(&state, &info, Actor::Client(&who), MethodKind::Voice, body).await
}

/// Starts a security key or passkey enrolment: creation options for Deadbolt's relying party
/// (`[webauthn] rp_id`), so the ceremony must run on a page of an origin that it accepts.
/// Body: `{label?}`, or empty.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/webauthn", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body(content = Option<EnrollWebauthn>), responses(
    (status = 201, body = WebauthnEnrollment),
    ClientProblems, SubjectBodyProblems, PlantProblems, Throttled, Unavailable,
))]
async fn enroll_webauthn(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<EnrollWebauthn>,
) -> ApiResult<(StatusCode, Json<WebauthnEnrollment>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::start_webauthn(&state, &info, Actor::Client(&who), body).await
}

/// Sends another confirmation code for a pending email, SMS or voice method, within the
/// resend limits. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/{method_id}/resend", tag = "subjects",
    security(("client_basic" = [])),
    params(
        ("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded"),
        ("method_id" = uuid::Uuid, Path),
    ), responses(
    (status = 202, body = CodeSentView),
    ClientProblems, SubjectBodyProblems, SendProblems, Unavailable,
))]
async fn resend(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath((external_id, id)): ApiPath<(String, MethodId)>,
    _body: EmptyBody,
) -> ApiResult<(StatusCode, Json<CodeSentView>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::resend_code(&state, &info, Actor::Client(&who), id).await
}

/// Confirms a pending method with its first code, or a security key with its registration
/// (`credential`), as `POST /v1/me/mfa/{method_id}/confirm` does: the first method turns MFA on
/// and answers the subject's ten recovery codes, once.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/{method_id}/confirm", tag = "subjects",
    security(("client_basic" = [])),
    params(
        ("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded"),
        ("method_id" = uuid::Uuid, Path),
    ),
    request_body = ConfirmRequest, responses(
    (status = 200, body = ConfirmResponse),
    (status = 403, description = "`factor_not_allowed`: policy no longer allows this kind of method", body = Problem, content_type = "application/problem+json"),
    ClientProblems, SubjectBodyProblems, Throttled, Unavailable,
))]
async fn confirm(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath((external_id, id)): ApiPath<(String, MethodId)>,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::confirm_method(&state, &info, Actor::Client(&who), id, body).await
}

/// Chooses the method the subject is offered first.
#[utoipa::path(put, path = "/v1/subjects/{external_id}/mfa/primary", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body = PrimaryRequest, responses(
    (status = 200, body = PrimaryResponse),
    ClientProblems, SubjectBodyProblems, Throttled, Unavailable,
))]
async fn set_primary(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    ApiJson(body): ApiJson<PrimaryRequest>,
) -> ApiResult<Json<PrimaryResponse>> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::choose_primary(&state, &info, Actor::Client(&who), body).await
}

/// Removes a method. A subject keeps a second factor: removing its last one is 403
/// `policy_requires_mfa` (remove the subject instead).
#[utoipa::path(delete, path = "/v1/subjects/{external_id}/mfa/{method_id}", tag = "subjects",
    security(("client_basic" = [])),
    params(
        ("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded"),
        ("method_id" = uuid::Uuid, Path),
    ), responses(
    (status = 204, description = "Removed"),
    (status = 403, description = "`policy_requires_mfa`: the subject's last method", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`unavailable`: the method list changed twice under this request, or the database is unavailable; try again", body = Problem, content_type = "application/problem+json"),
    ClientProblems, SubjectProblems, Throttled,
))]
async fn remove(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath((external_id, id)): ApiPath<(String, MethodId)>,
) -> ApiResult<StatusCode> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    deadbolt_usecases::mfa::remove(&state, &info, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New recovery codes for the subject; the old ones die. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/mfa/recovery-codes", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    responses(
    (status = 200, body = RecoveryCodes),
    ClientProblems, SubjectBodyProblems, Throttled, Unavailable,
))]
async fn regenerate(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    _body: EmptyBody,
) -> ApiResult<Json<RecoveryCodes>> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    me::new_recovery_codes(&state, &info, Actor::Client(&who)).await
}
