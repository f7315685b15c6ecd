//! `/v1/me/mfa`: the caller's second-factor methods. The answers are made by functions that
//! take who acts ([`Actor`]), which `/v1/subjects/{external_id}/mfa` shares: the same bodies
//! and answers for a client's subject.

use super::{AuthProblems, BodyProblems, PlantProblems, SendProblems, Unavailable};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client, EmptyBody, JsonOrEmpty};
use crate::routes::views::{CodeSentView, MethodDetails};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::{AccountId, MethodId};
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::client::Actor;
use deadbolt_usecases::client::ClientInfo;
use deadbolt_usecases::mfa;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
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
        .routes(routes!(disable))
}

#[derive(Serialize, ToSchema)]
pub struct MfaOverview {
    enabled: bool,
    primary_method_id: Option<uuid::Uuid>,
    methods: Vec<MethodDetails>,
    recovery_codes_remaining: i64,
}

/// The caller's methods. Any signed-in caller.
#[utoipa::path(get, path = "/v1/me/mfa", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, body = MfaOverview), AuthProblems, Unavailable,
))]
async fn overview(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<MfaOverview>> {
    overview_of(&state, who.session.account_id).await.map(Json)
}

/// An account's methods, as `GET /v1/me/mfa` answers them.
pub(crate) async fn overview_of(state: &AppState, account: AccountId) -> ApiResult<MfaOverview> {
    let o = mfa::overview(state, account).await?;
    Ok(MfaOverview {
        enabled: o.enabled,
        primary_method_id: o
            .methods
            .iter()
            .find(|m| m.is_primary && m.is_active())
            .map(|m| m.id.0),
        methods: o.methods.iter().map(MethodDetails::from).collect(),
        recovery_codes_remaining: o.recovery_codes_remaining,
    })
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollTotp {
    /// A name for the authenticator (default "Authenticator app").
    label: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrollment {
    method_id: uuid::Uuid,
    /// The secret in base32, for typing into an app by hand.
    secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    otpauth_uri: String,
    /// The QR code as an SVG document.
    qr_svg: String,
}

/// Starts a TOTP enrolment (pending until confirmed). While MFA is on this needs step-up
/// `mfa.manage`. Any signed-in caller. Body: `{label?}`, or empty.
#[utoipa::path(post, path = "/v1/me/mfa/totp", tag = "mfa", security(("bearer" = [])), request_body(content = Option<EnrollTotp>), responses(
    (status = 201, body = TotpEnrollment), AuthProblems, PlantProblems, BodyProblems, Unavailable,
))]
async fn enroll_totp(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    JsonOrEmpty(body): JsonOrEmpty<EnrollTotp>,
) -> ApiResult<(StatusCode, Json<TotpEnrollment>)> {
    start_totp(&state, &client, Actor::Session(&who), body).await
}

pub(crate) async fn start_totp(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    body: EnrollTotp,
) -> ApiResult<(StatusCode, Json<TotpEnrollment>)> {
    let e = mfa::enroll_totp(state, client, who, body.label).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrollment {
            method_id: e.method_id.0,
            secret: e.secret.expose().to_owned(),
            otpauth_uri: e.otpauth_uri.expose().to_owned(),
            qr_svg: e.qr_svg,
        }),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollEmail {
    /// A name for the method (default "Email").
    label: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollPhone {
    /// E.164 (`+12015550123`); default: the account's verified phone.
    phone: Option<String>,
    /// A name for the method (default "Text message to +*******0123").
    label: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CodeEnrollment {
    method_id: uuid::Uuid,
    /// Where the confirmation code went (masked).
    sent_to: String,
    /// Seconds before another code can be sent.
    resend_after: i64,
    /// SMS and voice: a restricted authenticator (NIST SP 800-63B), and what the user is told.
    #[serde(skip_serializing_if = "Option::is_none")]
    restricted_notice: Option<&'static str>,
}

impl From<mfa::CodeEnrollment> for CodeEnrollment {
    fn from(e: mfa::CodeEnrollment) -> Self {
        Self {
            method_id: e.method_id.0,
            sent_to: e.sent_to,
            resend_after: e.resend_after,
            restricted_notice: e.restricted_notice,
        }
    }
}

/// Starts an email-code enrolment: a code goes to the verified email; confirm with it. While
/// MFA is on this needs step-up `mfa.manage`. Body: `{label?}`, or empty.
#[utoipa::path(post, path = "/v1/me/mfa/email", tag = "mfa", security(("bearer" = [])), request_body(content = Option<EnrollEmail>), responses(
    (status = 201, body = CodeEnrollment), AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn enroll_email(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    JsonOrEmpty(body): JsonOrEmpty<EnrollEmail>,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    start_email(&state, &client, Actor::Session(&who), body).await
}

pub(crate) async fn start_email(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    body: EnrollEmail,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    let e = mfa::enroll_sent_code(state, client, who, MethodKind::Email, None, body.label).await?;
    Ok((StatusCode::CREATED, Json(e.into())))
}

/// An SMS or voice enrolment, as `/v1/me/mfa/sms` and `/voice` answer it.
pub(crate) async fn start_phone(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    kind: MethodKind,
    body: EnrollPhone,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    let e = mfa::enroll_sent_code(state, client, who, kind, body.phone, body.label).await?;
    Ok((StatusCode::CREATED, Json(e.into())))
}

/// Starts an SMS enrolment: a code is texted to `phone`; confirm with it. SMS is a restricted
/// authenticator: refused with 403 `factor_not_allowed` unless policy allows it.
#[utoipa::path(post, path = "/v1/me/mfa/sms", tag = "mfa", security(("bearer" = [])), request_body(content = Option<EnrollPhone>), responses(
    (status = 201, body = CodeEnrollment), AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn enroll_sms(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    JsonOrEmpty(body): JsonOrEmpty<EnrollPhone>,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    start_phone(&state, &client, Actor::Session(&who), MethodKind::Sms, body).await
}

/// Starts a voice enrolment: a call reads a code to `phone`; confirm with it. Voice is a
/// restricted authenticator: refused with 403 `factor_not_allowed` unless policy allows it.
#[utoipa::path(post, path = "/v1/me/mfa/voice", tag = "mfa", security(("bearer" = [])), request_body(content = Option<EnrollPhone>), responses(
    (status = 201, body = CodeEnrollment), AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn enroll_voice(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    JsonOrEmpty(body): JsonOrEmpty<EnrollPhone>,
) -> ApiResult<(StatusCode, Json<CodeEnrollment>)> {
    start_phone(
        &state,
        &client,
        Actor::Session(&who),
        MethodKind::Voice,
        body,
    )
    .await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollWebauthn {
    /// A name for the key (default "Security key"), to tell several apart.
    label: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebauthnEnrollment {
    method_id: uuid::Uuid,
    /// PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3, base64url binaries): pass it
    /// to `PublicKeyCredential.parseCreationOptionsFromJSON`, then the credential to confirm.
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

/// Starts a security key or passkey enrolment (pending until confirmed with the registration).
/// The options ask for a discoverable credential and user verification where the authenticator
/// can, so the key can also sign in without a password. While MFA is on this needs step-up
/// `mfa.manage`. Body: `{label?}`, or empty.
#[utoipa::path(post, path = "/v1/me/mfa/webauthn", tag = "mfa", security(("bearer" = [])), request_body(content = Option<EnrollWebauthn>), responses(
    (status = 201, body = WebauthnEnrollment), AuthProblems, PlantProblems, BodyProblems, Unavailable,
))]
async fn enroll_webauthn(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    JsonOrEmpty(body): JsonOrEmpty<EnrollWebauthn>,
) -> ApiResult<(StatusCode, Json<WebauthnEnrollment>)> {
    start_webauthn(&state, &client, Actor::Session(&who), body).await
}

pub(crate) async fn start_webauthn(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    body: EnrollWebauthn,
) -> ApiResult<(StatusCode, Json<WebauthnEnrollment>)> {
    let e = mfa::enroll_webauthn(state, client, who, body.label).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebauthnEnrollment {
            method_id: e.method_id.0,
            public_key: e.public_key,
        }),
    ))
}

/// Sends another confirmation code for a pending email, SMS or voice method, within the
/// resend limits. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/me/mfa/{method_id}/resend", tag = "mfa", security(("bearer" = [])),
    params(("method_id" = uuid::Uuid, Path)), responses(
    (status = 202, body = CodeSentView),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn resend(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<MethodId>,
    _body: EmptyBody,
) -> ApiResult<(StatusCode, Json<CodeSentView>)> {
    resend_code(&state, &client, Actor::Session(&who), id).await
}

pub(crate) async fn resend_code(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    id: MethodId,
) -> ApiResult<(StatusCode, Json<CodeSentView>)> {
    let sent = mfa::resend_enrolment_code(state, client, who, id).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The current code from the authenticator.
    code: Option<String>,
    /// A WebAuthn registration (RegistrationResponseJSON).
    credential: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ConfirmResponse {
    method: MethodDetails,
    /// Ten single-use codes, shown this once: present when this confirmation turned MFA on.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// Confirms a pending method with its first code, or a security key with its registration
/// (`credential`, RegistrationResponseJSON). Wrong code: 400 `invalid_code`. A credential that
/// does not parse or verify: 400 `invalid_credential`; made for another origin: 400
/// `wrong_origin`; its ceremony expired or spent: 400 `ceremony_expired`; refused by the
/// attestation policy: 400 `attestation_refused`.
#[utoipa::path(post, path = "/v1/me/mfa/{method_id}/confirm", tag = "mfa", security(("bearer" = [])),
    params(("method_id" = uuid::Uuid, Path)), request_body = ConfirmRequest, responses(
    (status = 200, body = ConfirmResponse),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn confirm(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<MethodId>,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    confirm_method(&state, &client, Actor::Session(&who), id, body).await
}

pub(crate) async fn confirm_method(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    id: MethodId,
    body: ConfirmRequest,
) -> ApiResult<Json<ConfirmResponse>> {
    let proof = match (body.code, body.credential) {
        (Some(code), None) => mfa::Confirmation::Code(Secret::new(code)),
        (None, Some(credential)) => mfa::Confirmation::Credential(credential),
        _ => {
            return Err(ApiError::invalid_request(
                "send `code`, or `credential` for a security key",
            ))
        }
    };
    let done = mfa::confirm(state, client, who, id, proof).await?;
    Ok(Json(ConfirmResponse {
        method: MethodDetails::from(&done.method),
        recovery_codes: done
            .recovery_codes
            .map(|codes| codes.iter().map(|c| c.expose().to_owned()).collect()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrimaryRequest {
    method_id: uuid::Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct PrimaryResponse {
    primary_method_id: uuid::Uuid,
}

/// Chooses the method offered first at login.
#[utoipa::path(put, path = "/v1/me/mfa/primary", tag = "mfa", security(("bearer" = [])), request_body = PrimaryRequest, responses(
    (status = 200, body = PrimaryResponse), AuthProblems, BodyProblems, Unavailable,
))]
async fn set_primary(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<PrimaryRequest>,
) -> ApiResult<Json<PrimaryResponse>> {
    choose_primary(&state, &client, Actor::Session(&who), body).await
}

pub(crate) async fn choose_primary(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
    body: PrimaryRequest,
) -> ApiResult<Json<PrimaryResponse>> {
    mfa::set_primary(state, client, who, MethodId(body.method_id)).await?;
    Ok(Json(PrimaryResponse {
        primary_method_id: body.method_id,
    }))
}

/// Removes a method (step-up `mfa.manage`); removing the last one turns MFA off.
#[utoipa::path(delete, path = "/v1/me/mfa/{method_id}", tag = "mfa", security(("bearer" = [])),
    params(("method_id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Removed"),
    (status = 400, description = "`invalid_request`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, Unavailable,
))]
async fn remove(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<MethodId>,
) -> ApiResult<StatusCode> {
    mfa::remove(&state, &client, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown this once; the old codes no longer work.
    codes: Vec<String>,
}

/// New recovery codes (step-up `mfa.manage`). Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/me/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, body = RecoveryCodes), AuthProblems, BodyProblems, Unavailable,
))]
async fn regenerate(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    _body: EmptyBody,
) -> ApiResult<Json<RecoveryCodes>> {
    new_recovery_codes(&state, &client, Actor::Session(&who)).await
}

pub(crate) async fn new_recovery_codes(
    state: &AppState,
    client: &ClientInfo,
    who: Actor<'_>,
) -> ApiResult<Json<RecoveryCodes>> {
    let codes = mfa::regenerate_recovery_codes(state, client, who).await?;
    Ok(Json(RecoveryCodes {
        codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }))
}

/// Turns MFA off (step-up `mfa.manage`). Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/me/mfa/disable", tag = "mfa", security(("bearer" = [])), responses(
    (status = 204, description = "MFA is off"), AuthProblems, BodyProblems, Unavailable,
))]
async fn disable(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    _body: EmptyBody,
) -> ApiResult<StatusCode> {
    mfa::disable(&state, &client, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}
