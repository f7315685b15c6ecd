//! What Deadbolt's tokens say: the claims of access tokens and of step-up tokens.

use deadbolt_core::ids::{AccountId, SessionId};
use serde::{Deserialize, Serialize};

/// An access token's claims, as API.md lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: AccountId,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
    pub sid: SessionId,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
}

/// A step-up token: proof, for apps that guard their own actions, that this session passed a
/// fresh check for `action`. Verify it with the JWKS and check `action` and `sid`. Its audience
/// is [`step_up_audience`], never the access tokens' own, so that an app that checks only the
/// signature, issuer, audience and expiry cannot take it for an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUpClaims {
    pub iss: String,
    pub aud: String,
    pub sub: AccountId,
    pub sid: SessionId,
    pub action: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    /// What the check was asked for, when the action names one thing (an account id for
    /// `admin.mfa_reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}
