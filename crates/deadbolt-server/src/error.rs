//! One error type for the API, mapped in one place to a status, an RFC 9457 problem body with
//! the contract's `error` code, and the headers the status calls for. Internals never reach the
//! body: an unexpected error is logged by the middleware (see `metrics::track`) and answered
//! with a bare 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use deadbolt_core::CoreError;
use deadbolt_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("invalid email address")]
    InvalidEmail,
    #[error("invalid phone number: use E.164, like +12015550123")]
    InvalidPhone,
    #[error("password too weak: {0}")]
    WeakPassword(String),
    #[error("the code is wrong or has expired")]
    InvalidCode,
    /// A wrong second factor during a login or step-up challenge.
    #[error("the code is wrong")]
    WrongSecondFactor { attempts_remaining: u32 },
    #[error("the mfa_token is expired, used up or unknown; sign in again")]
    MfaTokenInvalid,
    #[error("too many failed second-factor checks; try again later")]
    MfaLocked { retry_after: i64 },
    #[error("this action needs a fresh second factor (step-up)")]
    StepUpRequired {
        action: String,
        /// What the step-up must be asked for (`target` in `POST /v1/step-up`), when the
        /// action names one thing.
        target: Option<String>,
    },
    #[error("this authenticator was disabled after too many failures; bind it again")]
    AuthenticatorDisabled,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("policy requires a second factor: enroll one, then sign in again")]
    EnrollmentRequired,
    #[error("policy requires this account to keep a second factor")]
    PolicyRequiresMfa,
    /// What outlives a session of an account whose address nobody proved to own.
    #[error("verify your email address first")]
    EmailUnverified,
    /// Policy does not allow this kind of second factor (or nothing here can deliver it).
    #[error("{0}")]
    FactorNotAllowed(String),
    #[error("a code was sent moments ago; wait before asking for another")]
    ResendTooSoon { retry_after: i64 },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this account is already a member of the team")]
    AlreadyMember,
    #[error("a team must keep at least one owner")]
    LastOwner,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("this account signs in through its identity provider, not with a password here")]
    SsoRequired,
    /// A policy that cannot be stored: the first problem's field, and every problem.
    #[error("{field}: {message}")]
    InvalidPolicy {
        field: String,
        message: String,
        problems: Vec<deadbolt_core::policy::PolicyProblem>,
    },
    /// Policy's risk rules refuse this sign-in.
    #[error(
        "this sign-in looks unusual ({reason}) and policy refuses it; contact your administrator"
    )]
    SignInRefused { reason: &'static str },
    #[error("this account may not sign in from this network or country")]
    LocationNotAllowed,
    /// `If-Match` named a version that is no longer the current one.
    #[error("the policy changed since it was read; read it again and reapply the change")]
    PreconditionFailed,
    #[error("the access or refresh token is invalid, expired or revoked")]
    InvalidToken,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many attempts; try again later")]
    TooManyAttempts { retry_after: i64 },
    #[error("the server is busy; try again shortly")]
    Overloaded,
    #[error("a dependency is unavailable")]
    Unavailable,
    /// A WebAuthn credential that does not parse, or a registration that does not verify.
    #[error("{0}")]
    InvalidCredential(String),
    #[error("the credential was made for another origin than this service's")]
    WrongOrigin,
    #[error("the WebAuthn ceremony expired, was already answered, or is unknown; start again")]
    CeremonyExpired,
    #[error("no security key or passkey registered here has this credential id")]
    UnknownCredential,
    #[error("{0}")]
    AttestationRefused(&'static str),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// An RFC 9457 problem document. `error` is the stable machine code.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub error: String,
    /// Seconds until a retry can succeed (429 and 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
    /// Wrong codes the mfa_token or challenge still survives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_remaining: Option<u32>,
    /// The action that needs a step-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What the step-up must name as its `target`, when the action names one thing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `invalid_policy`: the field of the first problem, and every problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub problems: Option<Vec<deadbolt_core::policy::PolicyProblem>>,
    /// `sign_in_refused`: which risk signal called for the refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The detail of an unexpected error, kept out of the body and picked up by the logging
/// middleware.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::InvalidEmail
            | Self::InvalidPhone
            | Self::WeakPassword(_)
            | Self::InvalidCode
            | Self::InvalidCredential(_)
            | Self::WrongOrigin
            | Self::CeremonyExpired
            | Self::UnknownCredential
            | Self::AttestationRefused(_)
            | Self::InvalidPolicy { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials
            | Self::SsoRequired
            | Self::InvalidToken
            | Self::WrongSecondFactor { .. }
            | Self::MfaTokenInvalid
            | Self::StepUpRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::AuthenticatorDisabled
            | Self::Forbidden(_)
            | Self::FactorNotAllowed(_)
            | Self::EnrollmentRequired
            | Self::SignInRefused { .. }
            | Self::LocationNotAllowed
            | Self::EmailUnverified
            | Self::PolicyRequiresMfa => StatusCode::FORBIDDEN,
            Self::MfaLocked { .. } | Self::ResendTooSoon { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::EmailTaken | Self::AlreadyMember | Self::LastOwner => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidPhone => "invalid_phone",
            Self::WeakPassword(_) => "weak_password",
            Self::InvalidCode | Self::WrongSecondFactor { .. } => "invalid_code",
            Self::MfaTokenInvalid => "mfa_token_invalid",
            Self::MfaLocked { .. } => "mfa_locked",
            Self::StepUpRequired { .. } => "insufficient_user_authentication",
            Self::AuthenticatorDisabled => "authenticator_disabled",
            Self::Forbidden(_) => "forbidden",
            Self::EnrollmentRequired => "mfa_enrollment_required",
            Self::PolicyRequiresMfa => "policy_requires_mfa",
            Self::EmailUnverified => "email_unverified",
            Self::FactorNotAllowed(_) => "factor_not_allowed",
            Self::ResendTooSoon { .. } => "resend_too_soon",
            Self::EmailTaken => "email_taken",
            Self::AlreadyMember => "already_member",
            Self::LastOwner => "last_owner",
            Self::InvalidCredentials => "invalid_credentials",
            Self::SsoRequired => "sso_required",
            Self::InvalidPolicy { .. } => "invalid_policy",
            Self::SignInRefused { .. } => "sign_in_refused",
            Self::LocationNotAllowed => "location_not_allowed",
            Self::PreconditionFailed => "precondition_failed",
            Self::InvalidToken => "invalid_token",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::Overloaded => "overloaded",
            Self::Unavailable => "unavailable",
            Self::InvalidCredential(_) => "invalid_credential",
            Self::WrongOrigin => "wrong_origin",
            Self::CeremonyExpired => "ceremony_expired",
            Self::UnknownCredential => "unknown_credential",
            Self::AttestationRefused(_) => "attestation_refused",
            Self::Internal(_) => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<i64> {
        match self {
            Self::TooManyAttempts { retry_after }
            | Self::MfaLocked { retry_after }
            | Self::ResendTooSoon { retry_after } => Some(*retry_after),
            Self::Overloaded | Self::Unavailable => Some(1),
            _ => None,
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidEmail => Self::InvalidEmail,
            CoreError::InvalidPhone => Self::InvalidPhone,
            CoreError::WeakPassword(why) => Self::WeakPassword(why),
            e @ (CoreError::InvalidAction
            | CoreError::InvalidName
            | CoreError::InvalidRole
            | CoreError::InvalidSsoProvider) => Self::InvalidRequest(e.to_string()),
            CoreError::Throttled(wait) => Self::TooManyAttempts {
                retry_after: deadbolt_core::throttle::retry_after_seconds(wait),
            },
        }
    }
}

impl ApiError {
    /// Whether this is a store's uniqueness conflict (a parallel request made the same record
    /// first): a client's race, to answer as such, never a 500.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Internal(e)
            if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Conflict)))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::Unavailable,
            // what the request names was deleted meanwhile
            StoreError::MissingReference => Self::NotFound,
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::hash_pool::Busy> for ApiError {
    fn from(_: crate::hash_pool::Busy) -> Self {
        Self::Overloaded
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.retry_after();
        let detail = match &self {
            Self::Internal(_) => "an unexpected error occurred".to_owned(),
            other => other.to_string(),
        };
        let body = Problem {
            type_: format!("urn:deadbolt:error:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            error: self.code().to_owned(),
            retry_after,
            attempts_remaining: match &self {
                Self::WrongSecondFactor { attempts_remaining } => Some(*attempts_remaining),
                _ => None,
            },
            action: match &self {
                Self::StepUpRequired { action, .. } => Some(action.clone()),
                _ => None,
            },
            field: match &self {
                Self::InvalidPolicy { field, .. } => Some(field.clone()),
                _ => None,
            },
            problems: match &self {
                Self::InvalidPolicy { problems, .. } => Some(problems.clone()),
                _ => None,
            },
            target: match &self {
                Self::StepUpRequired { target, .. } => target.clone(),
                _ => None,
            },
            reason: match &self {
                Self::SignInRefused { reason } => Some((*reason).to_owned()),
                _ => None,
            },
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
        match self {
            Self::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            // RFC 9470: the client should step up and try again
            Self::StepUpRequired { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_user_authentication\", error_description=\"a fresh second factor is required\""),
                );
            }
            _ => {}
        }
        if let Self::Internal(e) = &self {
            response
                .extensions_mut()
                .insert(InternalDetail(format!("{e:#}")));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
