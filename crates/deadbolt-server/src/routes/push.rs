//! Push approval: registering the calling session as an approver (`POST /v1/me/mfa/push`), and
//! the approver's side of a request: `GET /v1/me/approvals`, `POST /v1/me/approvals/{id}`.

use super::{AuthProblems, BodyProblems, PlantProblems, Unavailable};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Caller, Client, JsonOrEmpty};
use crate::routes::views::MethodDetails;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deadbolt_core::ids::ApprovalId;
use deadbolt_core::push::Decision;
use deadbolt_usecases::{mfa, push};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll_push))
        .routes(routes!(approvals))
        .routes(routes!(answer))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollPush {
    /// 1 to 64 characters; default "Approve on my device".
    label: Option<String>,
    /// An Ed25519 public key, base64url of its raw 32 bytes. With one, every answer must carry
    /// `signature`, and an approval counts toward `acr` `aal2`.
    public_key: Option<String>,
    /// The push gateway's address for this device (at most 512 characters): the `[sms]`
    /// webhook receives each request with `channel: "push"` and this as `to`.
    push_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PushEnrolled {
    method_id: uuid::Uuid,
    method: MethodDetails,
    /// Ten single-use codes, shown this once: present when this method turned MFA on.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// Makes the calling session the approver of a new push method, active at once (the session
/// is the device that approves). The rules of every enrolment apply: a step-up `mfa.manage`
/// while MFA is on, a recent sign-in otherwise, a verified email.
#[utoipa::path(post, path = "/v1/me/mfa/push", tag = "mfa", security(("bearer" = [])), request_body(content = Option<EnrollPush>), responses(
    (status = 201, body = PushEnrolled), AuthProblems, PlantProblems, BodyProblems, Unavailable,
))]
async fn enroll_push(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    JsonOrEmpty(body): JsonOrEmpty<EnrollPush>,
) -> ApiResult<(StatusCode, Json<PushEnrolled>)> {
    let done = mfa::enroll_push(
        &state,
        &client,
        &who,
        mfa::PushEnrollment {
            label: body.label,
            public_key: body.public_key,
            push_token: body.push_token,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(PushEnrolled {
            method_id: done.method.id.0,
            method: MethodDetails::from(&done.method),
            recovery_codes: done
                .recovery_codes
                .map(|codes| codes.iter().map(|c| c.expose().to_owned()).collect()),
        }),
    ))
}

/// Who asks, as the approver is told.
#[derive(Serialize, ToSchema)]
pub struct RequestedBy {
    ip: Option<String>,
    /// The country of the address, when a GeoIP database is configured.
    place: Option<String>,
    /// The browser and system, described in our words.
    user_agent: Option<String>,
}

/// A push request waiting for the caller's answer. It never holds the number: that is shown
/// only on the requesting screen.
#[derive(Serialize, ToSchema)]
pub struct ApprovalView {
    id: uuid::Uuid,
    method_id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
    requested_by: RequestedBy,
    /// `sign_in`, `step_up` or `password_reset`.
    purpose: String,
    /// The step-up's action.
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    /// Oldest first (at most one per account at a time).
    items: Vec<ApprovalView>,
}

/// The pending push requests of the methods whose approver is the calling session (another
/// session of the same account sees none).
#[utoipa::path(get, path = "/v1/me/approvals", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, body = ApprovalList), AuthProblems, Unavailable,
))]
async fn approvals(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<ApprovalList>> {
    Ok(Json(approval_list(push::pending_for(&state, &who).await?)))
}

/// The approver's view of its pending requests (the hosted pages' script reads the same).
pub(crate) fn approval_list(list: Vec<push::PendingApproval>) -> ApprovalList {
    ApprovalList {
        items: list
            .into_iter()
            .map(|p| {
                let a = p.record;
                ApprovalView {
                    id: a.id.0,
                    method_id: a.method_id.0,
                    created_at: a.created_at,
                    expires_at: a.expires_at,
                    requested_by: RequestedBy {
                        ip: a.ip,
                        place: a.place,
                        user_agent: a.user_agent,
                    },
                    purpose: a.purpose,
                    action: a.action,
                }
            })
            .collect(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// `approve` or `deny` ("this wasn't me").
    decision: String,
    /// The two-digit number the requesting screen shows: required to approve.
    number: Option<String>,
    /// For an approver registered with a key: base64url Ed25519 signature of
    /// `deadbolt-approval:{id}:{number}:{decision}` (`number` empty when not sent).
    signature: Option<String>,
}

/// Answers a pending push request of the calling session's push method. A wrong number denies
/// the request (no second try) and counts as a failed second factor: 400 `invalid_code`.
/// `deny` denies it, tells the account's owner by email and pauses push requests for the
/// account (`[mfa] push_pause_seconds`). A request that is not the caller's to answer, already
/// answered or expired: 404 `not_found`.
#[utoipa::path(post, path = "/v1/me/approvals/{id}", tag = "mfa", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AnswerRequest, responses(
    (status = 204, description = "Answered"),
    (status = 400, description = "`invalid_code` (wrong number: the request is denied), `invalid_credential` (a missing or bad signature of a key-bound approver), or `invalid_request`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled`, or `factor_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    AuthProblems, BodyProblems, Unavailable,
))]
async fn answer(
    State(state): State<AppState>,
    Client(client): Client,
    Caller(who): Caller,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<AnswerRequest>,
) -> ApiResult<StatusCode> {
    let decision = Decision::parse(&body.decision)
        .ok_or_else(|| ApiError::invalid_request("`decision` must be approve or deny"))?;
    push::answer(
        &state,
        &client,
        &who,
        ApprovalId(id),
        push::Answer {
            decision,
            number: body.number,
            signature: body.signature,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
