//! The two-step login: `POST /v1/login`, then `/v1/login/mfa/challenge` and
//! `/v1/login/mfa/verify` when a second factor is needed.

use super::{BodyProblems, SendProblems, Unavailable};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Client};
use crate::routes::factor_input::{factor_input, push_input};
use crate::routes::tokens::TokenResponse;
use crate::routes::views::{ChallengeAnswer, CodeSentView, FactorType, MethodView};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use deadbolt_core::ids::MethodId;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::challenge::{self, Answering};
use deadbolt_usecases::login::{self, Login, LoginOutcome};
use deadbolt_usecases::mfa_login::{self, MfaVerify};
use deadbolt_usecases::passkey_login;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(challenge))
        .routes(routes!(verify))
        .routes(routes!(passkey_start))
        .routes(routes!(passkey_finish))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(format = Email)]
    email: String,
    #[schema(format = Password)]
    password: String,
    /// A trusted-device token from an earlier second-factor login.
    device_token: Option<String>,
}

impl LoginRequest {
    /// The login the body asks for (public so that the fuzz targets check the same path).
    pub fn into_input(self) -> Login {
        Login {
            email: self.email,
            password: Secret::new(self.password),
            device_token: self.device_token.map(Secret::new),
        }
    }
}

/// A second factor is needed: pass one with `mfa_token` to `/v1/login/mfa/verify`.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    mfa_required: bool,
    /// Short-lived and single-purpose: it grants nothing but the second step.
    mfa_token: String,
    expires_in: i64,
    /// The usable methods, primary first.
    methods: Vec<MethodView>,
    /// Present when a risk signal asked for the second factor: `new_device`, `new_location`,
    /// `impossible_travel` or `policy` (a burst of failed passwords).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    SignedIn(TokenResponse),
    SecondFactor(MfaRequired),
}

/// Signs in with email and password. Anyone may call it. Wrong password and unknown email
/// answer alike; repeated failures per email and per client address answer 429. Accounts with
/// MFA get an `mfa_token` instead of tokens, unless `device_token` names a trusted device.
#[utoipa::path(post, path = "/v1/login", tag = "login", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "`invalid_credentials`, or `sso_required`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`sign_in_refused` (risk policy; with `reason`) or `location_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(
        match login::login(&state, &client, body.into_input()).await? {
            LoginOutcome::SignedIn(tokens) => LoginResponse::SignedIn(TokenResponse::from(tokens)),
            LoginOutcome::MfaRequired {
                mfa_token,
                expires_in,
                methods,
                reason,
            } => LoginResponse::SecondFactor(MfaRequired {
                mfa_required: true,
                mfa_token: mfa_token.expose().to_owned(),
                expires_in,
                methods: methods.iter().map(MethodView::from).collect(),
                reason,
            }),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    mfa_token: String,
    method_id: uuid::Uuid,
}

/// Asks for a code to be sent (email, SMS, voice) or for WebAuthn request options. TOTP and
/// recovery codes need nothing sent: they answer 400.
#[utoipa::path(post, path = "/v1/login/mfa/challenge", tag = "login", request_body = ChallengeRequest, responses(
    (status = 202, description = "A code was sent", body = CodeSentView),
    (status = 200, description = "WebAuthn request options (PublicKeyCredentialRequestOptionsJSON), also under `public_key`", body = Object),
    (status = 201, description = "A push request was made: show `number`, then verify with `approval_id`", body = crate::routes::views::PushSentView),
    (status = 401, description = "`mfa_token_invalid`", body = Problem, content_type = "application/problem+json"),
    SendProblems,
    BodyProblems,
    Unavailable,
))]
async fn challenge(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ChallengeRequest>,
) -> ApiResult<ChallengeAnswer> {
    let token = Secret::new(body.mfa_token);
    let method = MethodId(body.method_id);
    let sent =
        challenge::send_for_token(&state, &client, &token, Answering::SignInApi, method).await?;
    Ok(sent.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    mfa_token: String,
    /// Which method (optional when the account has one of that type).
    method_id: Option<uuid::Uuid>,
    #[serde(rename = "type")]
    type_: FactorType,
    /// The code, for TOTP and recovery codes.
    code: Option<String>,
    /// A WebAuthn assertion (AuthenticationResponseJSON).
    credential: Option<serde_json::Value>,
    /// Remember this device: the answer carries a `device_token`.
    trust_device: Option<bool>,
    /// For `type: "push"`: the request the challenge step made.
    approval_id: Option<uuid::Uuid>,
}

impl VerifyRequest {
    /// The second step the body asks for, or 400 for a factor that does not fit its type
    /// (public so that the fuzz targets check the same path).
    pub fn into_input(self) -> ApiResult<MfaVerify> {
        Ok(MfaVerify {
            mfa_token: Secret::new(self.mfa_token),
            answering: Answering::SignInApi,
            factor: match self.type_ {
                FactorType::Push => push_input(self.approval_id)?,
                other => factor_input(other, self.method_id, self.code, self.credential)?,
            },
            trust_device: self.trust_device.unwrap_or(false),
        })
    }
}

/// Completes a login with a second factor. A wrong code is 401 `invalid_code` with
/// `attempts_remaining`; after 5 the token is dead (`mfa_token_invalid`). Too many failures on
/// the account lock second-factor checks (429 `mfa_locked`).
#[utoipa::path(post, path = "/v1/login/mfa/verify", tag = "login", request_body = VerifyRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 400, description = "`authorization_pending`: the push request waits for its approver (poll again in a few seconds)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`invalid_code` (with `attempts_remaining`) or `mfa_token_invalid`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled`, or `access_denied`: the approver denied the push request", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`mfa_locked` or `too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let done = mfa_login::verify(&state, &client, body.into_input()?).await?;
    let mut response = TokenResponse::from(done.tokens);
    response.device_token = done.device_token.map(|t| t.expose().to_owned());
    Ok(Json(response))
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyStart {
    /// Names this sign-in at `/v1/login/passkey/finish`.
    challenge_id: uuid::Uuid,
    /// PublicKeyCredentialRequestOptionsJSON: no credentials listed (the authenticator offers
    /// its passkeys for this site), user verification required.
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

/// Starts a usernameless passkey sign-in. Anyone may call it. Body: empty or `{}`.
#[utoipa::path(post, path = "/v1/login/passkey/start", tag = "login", responses(
    (status = 200, body = PasskeyStart),
    (status = 403, description = "`factor_not_allowed`: policy does not allow WebAuthn", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`: starts from this client address over `[limits] passkey_starts_per_ip_per_minute`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
/// (503 `overloaded` with Retry-After as well when `[limits] passkey_starts_in_flight` starts
/// are already being made on this instance.)
async fn passkey_start(
    State(state): State<AppState>,
    Client(client): Client,
    _body: crate::extract::EmptyBody,
) -> ApiResult<Json<PasskeyStart>> {
    let (challenge_id, public_key) = passkey_login::start(&state, &client).await?;
    Ok(Json(PasskeyStart {
        challenge_id,
        public_key,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFinish {
    challenge_id: uuid::Uuid,
    /// The assertion (AuthenticationResponseJSON), with its `userHandle`.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Completes a passkey sign-in: the signed-in body, with `amr` holding `hwk` or `swk`,
/// `user` and `mfa`, and `acr` `aal2`. An assertion without user verification, or that fails
/// verification: 401 `invalid_code`; a malformed credential: 400 `invalid_credential`; a
/// credential not registered here: 400 `unknown_credential`; another origin: 400
/// `wrong_origin`; an expired, spent or unknown `challenge_id`: 400 `ceremony_expired`.
#[utoipa::path(post, path = "/v1/login/passkey/finish", tag = "login", request_body = PasskeyFinish, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_code` (with `attempts_remaining`)", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`authenticator_disabled` or `factor_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`mfa_locked` or `too_many_attempts`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    BodyProblems,
    Unavailable,
))]
async fn passkey_finish(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<PasskeyFinish>,
) -> ApiResult<Json<TokenResponse>> {
    let tokens =
        passkey_login::finish(&state, &client, body.challenge_id, &body.credential).await?;
    Ok(Json(TokenResponse::from(tokens)))
}
