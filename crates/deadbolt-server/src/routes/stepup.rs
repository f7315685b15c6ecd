//! `/v1/step-up`: a fresh check before a sensitive action.

use super::{AuthProblems, BodyProblems, SendProblems, Unavailable};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Client};
use crate::routes::factor_input::{factor_input, push_input};
use crate::routes::views::{ChallengeAnswer, CodeSentView, FactorType, MethodView};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_usecases::challenge::{self, Answering};
use deadbolt_usecases::stepup::{self, Begin, StepUpFactor};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(begin))
        .routes(routes!(challenge))
        .routes(routes!(verify))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    /// `[a-z0-9_.]+`: a built-in action or the app's own.
    #[schema(pattern = "^[a-z0-9_.]{1,64}$", example = "password.change")]
    action: String,
    /// The one thing the step-up is for, when the action names one (the `target` of the 401
    /// that asked for it; the account id for `admin.mfa_reset`). A grant for one target does
    /// not serve another.
    #[schema(max_length = 64)]
    target: Option<String>,
}

impl StepUpRequest {
    /// The action and target the body names, checked (public so that the fuzz targets check
    /// the same path).
    pub fn into_parts(self) -> ApiResult<(Action, Option<String>)> {
        let action = Action::parse(&self.action)?;
        if self
            .target
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > 64)
        {
            return Err(ApiError::invalid_request(
                "target must be 1 to 64 characters",
            ));
        }
        // an id is one thing however it is spelled: compared in its canonical form
        let target = self
            .target
            .map(|t| uuid::Uuid::parse_str(&t).map_or(t, |id| id.to_string()));
        Ok((action, target))
    }
}

#[derive(Serialize, ToSchema)]
pub struct StepUpSatisfied {
    satisfied: bool,
    action: String,
    /// A JWT (same keys as access tokens) with `sub, sid, action, auth_time, amr, acr, exp`.
    step_up_token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct StepUpChallenge {
    satisfied: bool,
    /// Pass with a second factor (or the password) to `/v1/step-up/verify`.
    challenge_token: String,
    methods: Vec<MethodView>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum StepUpBegin {
    Satisfied(StepUpSatisfied),
    Challenge(StepUpChallenge),
}

/// Asks whether the caller's session may perform `action` now; if not, opens a challenge. Any
/// signed-in caller.
#[utoipa::path(post, path = "/v1/step-up", tag = "step-up", security(("bearer" = [])), request_body = StepUpRequest, responses(
    (status = 200, body = StepUpBegin), AuthProblems, BodyProblems, Unavailable,
))]
async fn begin(
    State(state): State<AppState>,
    Caller(who): Caller,
    ApiJson(body): ApiJson<StepUpRequest>,
) -> ApiResult<Json<StepUpBegin>> {
    let (action, target) = body.into_parts()?;
    Ok(Json(
        match stepup::begin(&state, &who, action, target).await? {
            Begin::Satisfied {
                action,
                step_up_token,
                expires_at,
            } => StepUpBegin::Satisfied(StepUpSatisfied {
                satisfied: true,
                action: action.as_str().to_owned(),
                step_up_token,
                expires_at,
            }),
            Begin::Challenge {
                challenge_token,
                methods,
                password,
            } => StepUpBegin::Challenge(StepUpChallenge {
                satisfied: false,
                challenge_token: challenge_token.expose().to_owned(),
                methods: if password {
                    vec![MethodView::password()]
                } else {
                    methods.iter().map(MethodView::from).collect()
                },
            }),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpChallengeRequest {
    challenge_token: String,
    method_id: uuid::Uuid,
}

/// Asks for a code to be sent for a step-up; TOTP and recovery codes need nothing sent (400).
#[utoipa::path(post, path = "/v1/step-up/challenge", tag = "step-up", security(("bearer" = [])), request_body = StepUpChallengeRequest, responses(
    (status = 202, description = "A code was sent", body = CodeSentView),
    (status = 200, description = "WebAuthn request options (PublicKeyCredentialRequestOptionsJSON), also under `public_key`", body = Object),
    (status = 201, description = "A push request was made: show `number`, then verify with `approval_id`", body = crate::routes::views::PushSentView),
    AuthProblems, SendProblems, BodyProblems, Unavailable,
))]
async fn challenge(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<StepUpChallengeRequest>,
) -> ApiResult<ChallengeAnswer> {
    let token = Secret::new(body.challenge_token);
    let method = deadbolt_core::ids::MethodId(body.method_id);
    let answering = Answering::StepUp(who.session.id);
    let sent = challenge::send_for_token(&state, &client, &token, answering, method).await?;
    Ok(sent.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpVerifyRequest {
    challenge_token: String,
    #[serde(rename = "type")]
    type_: FactorType,
    method_id: Option<uuid::Uuid>,
    code: Option<String>,
    credential: Option<serde_json::Value>,
    /// For `type: "password"` (accounts without MFA).
    #[schema(format = Password)]
    password: Option<String>,
    /// For `type: "push"`: the request the challenge step made.
    approval_id: Option<uuid::Uuid>,
}

impl StepUpVerifyRequest {
    /// The challenge token and the answer the body gives, or 400 for one that does not fit its
    /// type (public so that the fuzz targets check the same path).
    pub fn into_answer(self) -> ApiResult<(Secret, StepUpFactor)> {
        let answer = match self.type_ {
            FactorType::Password => {
                StepUpFactor::Password(Secret::new(self.password.ok_or_else(|| {
                    ApiError::invalid_request("`password` is required for type password")
                })?))
            }
            FactorType::Push => StepUpFactor::Factor(push_input(self.approval_id)?),
            other => StepUpFactor::Factor(factor_input(
                other,
                self.method_id,
                self.code,
                self.credential,
            )?),
        };
        Ok((Secret::new(self.challenge_token), answer))
    }
}

/// Completes a step-up. Failures as in the login's second step.
#[utoipa::path(post, path = "/v1/step-up/verify", tag = "step-up", security(("bearer" = [])), request_body = StepUpVerifyRequest, responses(
    (status = 200, body = StepUpSatisfied),
    (status = 400, description = "`authorization_pending`: the push request waits for its approver (poll again in a few seconds)", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled`, or `access_denied`: the approver denied the push request", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`mfa_locked` or `too_many_attempts`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiJson(body): ApiJson<StepUpVerifyRequest>,
) -> ApiResult<Json<StepUpSatisfied>> {
    let (challenge_token, answer) = body.into_answer()?;
    let done = stepup::verify(&state, &client, &who, challenge_token, answer).await?;
    Ok(Json(StepUpSatisfied {
        satisfied: true,
        action: done.action.as_str().to_owned(),
        step_up_token: done.step_up_token,
        expires_at: done.expires_at,
    }))
}
