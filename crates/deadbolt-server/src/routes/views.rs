//! Response shapes shared by several routes.

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

impl From<&MethodRecord> for MethodView {
    fn from(m: &MethodRecord) -> Self {
        Self {
            id: Some(m.id.0),
            type_: m.kind.as_str().to_owned(),
            label: m.label.clone(),
            hint: None,
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
}

impl From<&MethodRecord> for MethodDetails {
    fn from(m: &MethodRecord) -> Self {
        Self {
            id: m.id.0,
            type_: m.kind.as_str().to_owned(),
            label: m.label.clone(),
            hint: None,
            primary: m.is_primary,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            disabled: m.disabled_at.is_some(),
        }
    }
}

/// The kinds of second factor a client can submit.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FactorType {
    Totp,
    RecoveryCode,
    Email,
    Sms,
    Voice,
    Webauthn,
    Password,
}
