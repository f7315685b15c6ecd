//! One error type for the API, mapped in one place to a status, an RFC 9457 problem body with
//! the contract's `error` code, and the headers the status calls for. Internals never reach the
//! body: an unexpected error is logged by the middleware (see `metrics::track`) and answered
//! with a bare 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use deadbolt_core::CoreError;
use deadbolt_store::StoreError;
use deadbolt_usecases::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

/// An API error: a use case's, or one only HTTP knows of.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
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
    /// A request that does not parse: 400 `invalid_request`.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::Domain(DomainError::InvalidRequest(detail.into()))
    }

    /// The status a use case's error is answered with.
    pub fn status_of(e: &DomainError) -> StatusCode {
        domain_status(e)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(e) => domain_status(e),
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The contract's stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Domain(e) => domain_code(e),
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
        }
    }
}

fn domain_status(e: &DomainError) -> StatusCode {
    match e {
        DomainError::InvalidRequest(_)
        | DomainError::InvalidEmail
        | DomainError::InvalidPhone
        | DomainError::WeakPassword(_)
        | DomainError::InvalidCode
        | DomainError::InvalidCredential(_)
        | DomainError::WrongOrigin
        | DomainError::CeremonyExpired
        | DomainError::UnknownCredential
        | DomainError::AttestationRefused(_)
        | DomainError::InvalidPolicy { .. }
        | DomainError::AuthorizationPending => StatusCode::BAD_REQUEST,
        DomainError::InvalidCredentials
        | DomainError::SsoRequired
        | DomainError::InvalidToken
        | DomainError::InvalidClient
        | DomainError::WrongSecondFactor { .. }
        | DomainError::MfaTokenInvalid
        | DomainError::StepUpRequired { .. } => StatusCode::UNAUTHORIZED,
        DomainError::AuthenticatorDisabled
        | DomainError::Forbidden(_)
        | DomainError::FactorNotAllowed(_)
        | DomainError::EnrollmentRequired
        | DomainError::SignInRefused { .. }
        | DomainError::LocationNotAllowed
        | DomainError::EmailUnverified
        | DomainError::PolicyRequiresMfa
        | DomainError::AccessDenied => StatusCode::FORBIDDEN,
        DomainError::MfaLocked { .. } | DomainError::ResendTooSoon { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        DomainError::NotFound => StatusCode::NOT_FOUND,
        DomainError::EmailTaken | DomainError::AlreadyMember | DomainError::LastOwner => {
            StatusCode::CONFLICT
        }
        DomainError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        DomainError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Overloaded | DomainError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn domain_code(e: &DomainError) -> &'static str {
    match e {
        DomainError::InvalidRequest(_) => "invalid_request",
        DomainError::InvalidEmail => "invalid_email",
        DomainError::InvalidPhone => "invalid_phone",
        DomainError::WeakPassword(_) => "weak_password",
        DomainError::InvalidCode | DomainError::WrongSecondFactor { .. } => "invalid_code",
        DomainError::MfaTokenInvalid => "mfa_token_invalid",
        DomainError::MfaLocked { .. } => "mfa_locked",
        DomainError::StepUpRequired { .. } => "insufficient_user_authentication",
        DomainError::AuthenticatorDisabled => "authenticator_disabled",
        DomainError::Forbidden(_) => "forbidden",
        DomainError::EnrollmentRequired => "mfa_enrollment_required",
        DomainError::PolicyRequiresMfa => "policy_requires_mfa",
        DomainError::EmailUnverified => "email_unverified",
        DomainError::FactorNotAllowed(_) => "factor_not_allowed",
        DomainError::ResendTooSoon { .. } => "resend_too_soon",
        DomainError::EmailTaken => "email_taken",
        DomainError::AlreadyMember => "already_member",
        DomainError::LastOwner => "last_owner",
        DomainError::InvalidCredentials => "invalid_credentials",
        DomainError::SsoRequired => "sso_required",
        DomainError::InvalidPolicy { .. } => "invalid_policy",
        DomainError::SignInRefused { .. } => "sign_in_refused",
        DomainError::LocationNotAllowed => "location_not_allowed",
        DomainError::PreconditionFailed => "precondition_failed",
        DomainError::InvalidToken => "invalid_token",
        // OAuth's word for a client that failed to authenticate (RFC 6749, section 5.2)
        DomainError::InvalidClient => "invalid_client",
        DomainError::NotFound => "not_found",
        DomainError::TooManyAttempts { .. } => "too_many_attempts",
        // RFC 8628's words for a decision still awaited, and one refused
        DomainError::AuthorizationPending => "authorization_pending",
        DomainError::AccessDenied => "access_denied",
        DomainError::Overloaded => "overloaded",
        DomainError::Unavailable => "unavailable",
        DomainError::InvalidCredential(_) => "invalid_credential",
        DomainError::WrongOrigin => "wrong_origin",
        DomainError::CeremonyExpired => "ceremony_expired",
        DomainError::UnknownCredential => "unknown_credential",
        DomainError::AttestationRefused(_) => "attestation_refused",
        DomainError::Internal(_) => "internal_error",
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        Self::Domain(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Domain(e.into())
    }
}

impl From<deadbolt_usecases::hash_pool::Busy> for ApiError {
    fn from(e: deadbolt_usecases::hash_pool::Busy) -> Self {
        Self::Domain(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let domain = match &self {
            Self::Domain(e) => Some(e),
            _ => None,
        };
        let retry_after = domain.and_then(DomainError::retry_after);
        let detail = match domain {
            Some(DomainError::Internal(_)) => "an unexpected error occurred".to_owned(),
            _ => self.to_string(),
        };
        let body = Problem {
            type_: format!("urn:deadbolt:error:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            error: self.code().to_owned(),
            retry_after,
            attempts_remaining: match domain {
                Some(DomainError::WrongSecondFactor { attempts_remaining }) => {
                    Some(*attempts_remaining)
                }
                _ => None,
            },
            action: match domain {
                Some(DomainError::StepUpRequired { action, .. }) => Some(action.clone()),
                _ => None,
            },
            field: match domain {
                Some(DomainError::InvalidPolicy { field, .. }) => Some(field.clone()),
                _ => None,
            },
            problems: match domain {
                Some(DomainError::InvalidPolicy { problems, .. }) => Some(problems.clone()),
                _ => None,
            },
            target: match domain {
                Some(DomainError::StepUpRequired { target, .. }) => target.clone(),
                _ => None,
            },
            reason: match domain {
                Some(DomainError::SignInRefused { reason }) => Some((*reason).to_owned()),
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
        match domain {
            Some(DomainError::InvalidToken) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            // the server API: a client authenticates with HTTP Basic (RFC 7617)
            Some(DomainError::InvalidClient) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"deadbolt\", charset=\"UTF-8\""),
                );
            }
            // RFC 9470: the client should step up and try again
            Some(DomainError::StepUpRequired { .. }) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_user_authentication\", error_description=\"a fresh second factor is required\""),
                );
            }
            _ => {}
        }
        if let Some(DomainError::Internal(e)) = domain {
            let detail = InternalDetail(format!("{e:#}"));
            response.extensions_mut().insert(detail);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
