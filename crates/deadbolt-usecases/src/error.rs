//! What went wrong, in the domain's words. The HTTP layer maps each to a status and the
//! contract's error code in one place; pages map them to what a person reads.

use deadbolt_core::CoreError;
use deadbolt_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
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
    /// The server API's caller is no live confidential client with that secret.
    #[error(
        "client authentication failed: send HTTP Basic with a confidential client's id and secret"
    )]
    InvalidClient,
    #[error("not found")]
    NotFound,
    /// A push request has not been answered yet: ask again in a few seconds.
    #[error("the request waits for its approval on the other device; try again shortly")]
    AuthorizationPending,
    /// The approver refused the push request (or picked the wrong number).
    #[error("the request was denied on the other device")]
    AccessDenied,
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

impl DomainError {
    /// Seconds until a retry can succeed, where waiting helps.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::TooManyAttempts { retry_after }
            | Self::MfaLocked { retry_after }
            | Self::ResendTooSoon { retry_after } => Some(*retry_after),
            Self::Overloaded | Self::Unavailable => Some(1),
            _ => None,
        }
    }
}

impl From<CoreError> for DomainError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidEmail => Self::InvalidEmail,
            CoreError::InvalidPhone => Self::InvalidPhone,
            CoreError::WeakPassword(why) => Self::WeakPassword(why),
            e @ (CoreError::InvalidAction
            | CoreError::InvalidName
            | CoreError::InvalidRole
            | CoreError::InvalidSsoProvider
            | CoreError::InvalidField { .. }) => Self::InvalidRequest(e.to_string()),
            CoreError::Throttled(wait) => Self::TooManyAttempts {
                retry_after: deadbolt_core::throttle::retry_after_seconds(wait),
            },
        }
    }
}

impl DomainError {
    /// Whether this is a store's uniqueness conflict (a parallel request made the same record
    /// first): a client's race, to answer as such, never a 500.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Internal(e)
            if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Conflict)))
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::Unavailable,
            // what the request names was deleted meanwhile
            StoreError::MissingReference => Self::NotFound,
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::hash_pool::Busy> for DomainError {
    fn from(_: crate::hash_pool::Busy) -> Self {
        Self::Overloaded
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
