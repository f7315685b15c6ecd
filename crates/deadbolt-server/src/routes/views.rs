//! Response shapes shared by several routes.

use deadbolt_core::email::Email;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::phone::Phone;
use deadbolt_store::MethodRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A way to pass a second factor, as offered to the user.
#[derive(Serialize, ToSchema)]
pub struct MethodView {
    /// Absent for the password (step-up of an account without MFA).
    pub id: Option<uuid::Uuid>,
    #[serde(rename = "type")]
    #[schema(example = "totp")]
    pub type_: String,
    pub label: String,
    /// The masked target (`j***@example.com`) for channels that have one.
    pub hint: Option<String>,
    pub primary: bool,
}

/// The masked target of a method that sends codes: `j***@example.com`, `+*******0123`.
fn hint(m: &MethodRecord) -> Option<String> {
    let to = m.destination.as_deref()?;
    Some(match m.kind {
        MethodKind::Email => Email::parse(to).map_or_else(|_| "***".to_owned(), |e| e.masked()),
        _ => Phone::parse(to).map_or_else(|_| "***".to_owned(), |p| p.masked()),
    })
}

impl From<&MethodRecord> for MethodView {
    fn from(m: &MethodRecord) -> Self {
        Self {
            id: Some(m.id.0),
            type_: m.kind.as_str().to_owned(),
            label: m.label.clone(),
            hint: hint(m),
            primary: m.is_primary,
        }
    }
}

impl MethodView {
    pub fn password() -> Self {
        Self {
            id: None,
            type_: "password".to_owned(),
            label: "Password".to_owned(),
            hint: None,
            primary: true,
        }
    }
}

/// A method with its history, for the account's own view.
#[derive(Serialize, ToSchema)]
pub struct MethodDetails {
    pub id: uuid::Uuid,
    #[serde(rename = "type")]
    pub type_: String,
    pub label: String,
    pub hint: Option<String>,
    pub primary: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    /// Disabled after too many consecutive failures: bind it again.
    pub disabled: bool,
    /// SMS and voice: a restricted authenticator (NIST SP 800-63B), weaker than the others.
    pub restricted: bool,
}

impl From<&MethodRecord> for MethodDetails {
    fn from(m: &MethodRecord) -> Self {
        Self {
            id: m.id.0,
            type_: m.kind.as_str().to_owned(),
            label: m.label.clone(),
            hint: hint(m),
            primary: m.is_primary,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            disabled: m.disabled_at.is_some(),
            restricted: m.kind.is_restricted(),
        }
    }
}

/// The kinds of second factor a client can submit.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FactorType {
    Totp,
    /// Push approval: `approval_id` names the request the send step made.
    Push,
    RecoveryCode,
    Email,
    Sms,
    Voice,
    Webauthn,
    Password,
}

/// A code was sent: where (masked), and when another may be asked for.
#[derive(Serialize, ToSchema)]
pub struct CodeSentView {
    #[schema(example = "+*******0123")]
    pub sent_to: String,
    /// Seconds before another code can be sent.
    pub resend_after: i64,
}

/// The answer of a challenge's send step: 202 with where the code went, or 200 with WebAuthn
/// request options. The options are the body itself (PublicKeyCredentialRequestOptionsJSON, as
/// `navigator.credentials.get` takes after `parseRequestOptionsFromJSON`), and the same object
/// is also under `public_key`, the shape API.md writes as `{public_key}`.
pub enum ChallengeAnswer {
    Sent(CodeSentView),
    WebAuthn(serde_json::Value),
    Push(PushSentView),
}

/// A push request was made: show `number` on this screen, then verify with `approval_id`
/// (poll: 400 `authorization_pending` until the approver answers).
#[derive(Serialize, ToSchema)]
pub struct PushSentView {
    pub approval_id: uuid::Uuid,
    /// The number the approver must pick: shown only here.
    #[schema(minimum = 10, maximum = 99)]
    pub number: u8,
    pub expires_in: i64,
}

impl From<deadbolt_usecases::challenge::Challenged> for ChallengeAnswer {
    fn from(c: deadbolt_usecases::challenge::Challenged) -> Self {
        match c {
            deadbolt_usecases::challenge::Challenged::Sent(sent) => Self::Sent(sent.into()),
            deadbolt_usecases::challenge::Challenged::WebAuthn(options) => Self::WebAuthn(options),
            deadbolt_usecases::challenge::Challenged::Push(p) => Self::Push(PushSentView {
                approval_id: p.approval_id.0,
                number: p.number,
                expires_in: p.expires_in,
            }),
        }
    }
}

impl axum::response::IntoResponse for ChallengeAnswer {
    fn into_response(self) -> axum::response::Response {
        match self {
            Self::Sent(sent) => {
                (axum::http::StatusCode::ACCEPTED, axum::Json(sent)).into_response()
            }
            Self::Push(p) => (axum::http::StatusCode::CREATED, axum::Json(p)).into_response(),
            Self::WebAuthn(options) => {
                let mut body = options.clone();
                if let Some(map) = body.as_object_mut() {
                    map.insert("public_key".to_owned(), options);
                }
                (axum::http::StatusCode::OK, axum::Json(body)).into_response()
            }
        }
    }
}

impl From<deadbolt_usecases::challenge::CodeSent> for CodeSentView {
    fn from(c: deadbolt_usecases::challenge::CodeSent) -> Self {
        Self {
            sent_to: c.sent_to,
            resend_after: c.resend_after,
        }
    }
}
