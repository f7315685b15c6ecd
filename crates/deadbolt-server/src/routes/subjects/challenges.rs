//! `/v1/subjects/{external_id}/challenges`: a client checks its subject's second factor for a
//! sign-in or for an action of its own, and gets a signed assertion of the check. The checks
//! are a sign-in's second step's: the same answers for a wrong code, a lockout, a replay and a
//! spent challenge.

use super::{subject_of, ClientProblems};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Client, ClientCaller, JsonOrEmpty};
use crate::routes::factor_input::factor_input;
use crate::routes::views::{ChallengeAnswer, CodeSentView, FactorType, MethodView};
use crate::routes::{SendProblems, Unavailable};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::MethodId;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::challenge::Challenged;
use deadbolt_usecases::subject_api::assertion::CheckedFor;
use deadbolt_usecases::subject_api::challenges::{self, Answer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open))
        .routes(routes!(send))
        .routes(routes!(verify))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// The method to check (default: the first the subject is offered, its primary).
    method_id: Option<uuid::Uuid>,
    /// A step-up for this action of the product's (`[a-z0-9_.]+`): policy's rule for the
    /// action decides which factors serve. Absent: a sign-in's second factor.
    #[schema(example = "payments.send")]
    action: Option<String>,
}

/// A challenge, opened.
#[derive(Serialize, ToSchema)]
pub struct OpenedView {
    /// Secret, single use, bound to this subject: send it back to `.../verify`. Never log it.
    challenge_id: String,
    /// Seconds it can be answered in.
    expires_in: i64,
    /// The subject's methods that may answer it, primary first.
    methods: Vec<MethodView>,
    /// The method it was opened with.
    method: MethodView,
    /// Where the code went (masked), when the method sends one.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_to: Option<String>,
    /// Seconds before another code can be sent, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    resend_after: Option<i64>,
    /// WebAuthn request options (PublicKeyCredentialRequestOptionsJSON) for a security key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    public_key: Option<serde_json::Value>,
}

/// Opens a check of the subject's second factor: a sign-in's, or a step-up for `action`. A
/// method that sends a code sends it now (the limits and `resend_after` of `POST
/// /v1/login/mfa/challenge`); a security key gets its request options. Body: `{method_id?,
/// action?}`, or empty.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/challenges", tag = "subjects",
    security(("client_basic" = [])),
    params(("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded")),
    request_body(content = Option<OpenRequest>), responses(
    (status = 201, body = OpenedView),
    (status = 400, description = "`invalid_request`: the body, the path, an action name, or a method that cannot answer this check", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`mfa_enrollment_required` (the subject has no second factor yet), `factor_not_allowed`, `authenticator_disabled`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: the client has no subject of this name", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "The body is larger than `server.max_body_bytes`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`resend_too_soon`, `too_many_attempts` (code caps, or wrong client credentials from this address) or `mfa_locked`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    ClientProblems, Unavailable,
))]
async fn open(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath(external_id): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<OpenRequest>,
) -> ApiResult<(StatusCode, Json<OpenedView>)> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    let opened = challenges::open(
        &state,
        &info,
        &who,
        body.method_id.map(MethodId),
        body.action.as_deref(),
    )
    .await?;
    let (sent_to, resend_after, public_key) = match opened.sent {
        Some(Challenged::Sent(sent)) => (Some(sent.sent_to), Some(sent.resend_after), None),
        Some(Challenged::WebAuthn(options)) => (None, None, Some(options)),
        // not offered to subjects (see the use case)
        Some(Challenged::Push(_)) => (None, None, None),
        None => (None, None, None),
    };
    Ok((
        StatusCode::CREATED,
        Json(OpenedView {
            challenge_id: opened.challenge_id.expose().to_owned(),
            expires_in: opened.expires_in,
            methods: opened.methods.iter().map(MethodView::from).collect(),
            method: MethodView::from(&opened.method),
            sent_to,
            resend_after,
            public_key,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    method_id: uuid::Uuid,
}

/// Sends a fresh code for the challenge (a resend, or another of `methods`), or WebAuthn
/// request options, as `POST /v1/login/mfa/challenge` does.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/challenges/{challenge_id}/send", tag = "subjects",
    security(("client_basic" = [])),
    params(
        ("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded"),
        ("challenge_id" = String, Path, description = "The challenge's id, as opening it answered"),
    ),
    request_body = SendRequest, responses(
    (status = 202, description = "A code was sent", body = CodeSentView),
    (status = 200, description = "WebAuthn request options (PublicKeyCredentialRequestOptionsJSON), also under `public_key`", body = Object),
    (status = 400, description = "`invalid_request`: the body, the path, or a method that sends nothing or cannot answer this challenge", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`invalid_client`; or `mfa_token_invalid`: the challenge is spent, expired or dead after too many wrong codes", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: no such subject of this client, or no such challenge of this subject", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "The body is larger than `server.max_body_bytes`", body = Problem, content_type = "application/problem+json"),
    SendProblems, Unavailable,
))]
async fn send(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath((external_id, challenge_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SendRequest>,
) -> ApiResult<ChallengeAnswer> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    let challenge_id = Secret::new(challenge_id);
    let sent =
        challenges::send(&state, &info, &who, &challenge_id, MethodId(body.method_id)).await?;
    Ok(sent.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The method answered with; with `code` alone, its type is the method's.
    method_id: Option<uuid::Uuid>,
    /// The factor's type, where `method_id` does not say it (`recovery_code`, say).
    #[serde(rename = "type")]
    type_: Option<FactorType>,
    /// The code: TOTP, a sent code, or a recovery code.
    code: Option<String>,
    /// A WebAuthn assertion (AuthenticationResponseJSON).
    credential: Option<serde_json::Value>,
}

impl VerifyRequest {
    fn into_answer(self) -> ApiResult<Answer> {
        let kind = match (self.type_, &self.credential) {
            (Some(kind), _) => kind,
            (None, Some(_)) => FactorType::Webauthn,
            (None, None) => {
                return match (self.method_id, self.code) {
                    (Some(id), Some(code)) => Ok(Answer::MethodCode {
                        method_id: MethodId(id),
                        code: Secret::new(code),
                    }),
                    _ => Err(ApiError::invalid_request(
                        "send `method_id` and `code`, `type` and `code`, or a WebAuthn `credential`",
                    )),
                };
            }
        };
        factor_input(kind, self.method_id, self.code, self.credential).map(Answer::Factor)
    }
}

/// A check that passed.
#[derive(Serialize, ToSchema)]
pub struct VerifiedView {
    verified: bool,
    /// RFC 8176 values of the factor Deadbolt checked, and `mfa` (the product's own check of
    /// its first factor counts, unnamed).
    #[schema(example = json!(["otp", "mfa"]))]
    amr: Vec<String>,
    /// `aal2`.
    acr: String,
    /// A JWT signed with the keys of `/.well-known/jwks.json` (`typ` `mfa-assertion+jwt`; `aud`
    /// the client, `sub` the subject's `external_id`; five minutes): evidence of this check.
    assertion: String,
    /// The method that answered.
    method: MethodView,
    /// What the check was for.
    #[schema(value_type = Object)]
    challenge: CheckedFor,
}

/// Checks the answer to the subject's challenge, as a sign-in's second step does: a wrong code
/// is 401 `invalid_code` with `attempts_remaining`; after five the challenge is dead (401
/// `mfa_token_invalid`, as it is once spent or expired); too many failures on the subject lock
/// its checks (429 `mfa_locked` with Retry-After); a TOTP code passes once.
#[utoipa::path(post, path = "/v1/subjects/{external_id}/challenges/{challenge_id}/verify", tag = "subjects",
    security(("client_basic" = [])),
    params(
        ("external_id" = String, Path, min_length = 1, max_length = 255, description = "The client's own identifier for its subject, percent-encoded"),
        ("challenge_id" = String, Path, description = "The challenge's id, as opening it answered"),
    ),
    request_body = VerifyRequest, responses(
    (status = 200, body = VerifiedView),
    (status = 400, description = "`invalid_request` (the body, the path, a method this subject does not have), `invalid_credential`, `wrong_origin`, `ceremony_expired`, `unknown_credential`", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`invalid_client`; `invalid_code` (with `attempts_remaining`); `mfa_token_invalid`: the challenge is spent, expired or dead after too many wrong codes", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled`, `factor_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: no such subject of this client, or no such challenge of this subject", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "The body is larger than `server.max_body_bytes`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`mfa_locked` or `too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    Unavailable,
))]
async fn verify(
    State(state): State<AppState>,
    ClientCaller(client): ClientCaller,
    Client(info): Client,
    ApiPath((external_id, challenge_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifiedView>> {
    let (who, _) = subject_of(&state, &client, &external_id).await?;
    let answer = body.into_answer()?;
    let challenge_id = Secret::new(challenge_id);
    let done = challenges::verify(&state, &info, &client, &who, &challenge_id, answer).await?;
    Ok(Json(VerifiedView {
        verified: true,
        amr: done.amr,
        acr: done.acr,
        assertion: done.assertion,
        method: MethodView::from(&done.method),
        challenge: done.checked,
    }))
}
