//! Turning a submitted `{type, method_id, code, credential}` into a factor to check.

use crate::error::{ApiError, ApiResult};
use crate::routes::views::FactorType;
use deadbolt_core::ids::MethodId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::factors::FactorInput;

/// A push answer: the request the send step made.
pub fn push_input(approval_id: Option<uuid::Uuid>) -> ApiResult<FactorInput> {
    let approval_id = approval_id
        .ok_or_else(|| ApiError::invalid_request("`approval_id` is required for type push"))?;
    Ok(FactorInput::Push {
        approval_id: deadbolt_core::ids::ApprovalId(approval_id),
    })
}

pub fn factor_input(
    kind: FactorType,
    method_id: Option<uuid::Uuid>,
    code: Option<String>,
    credential: Option<serde_json::Value>,
) -> ApiResult<FactorInput> {
    if credential.is_some() && kind != FactorType::Webauthn {
        return Err(ApiError::invalid_request(
            "`credential` goes with type webauthn",
        ));
    }
    let code = || {
        code.clone()
            .map(Secret::new)
            .ok_or_else(|| ApiError::invalid_request("`code` is required for this type"))
    };
    let method_id = method_id.map(MethodId);
    let sent = |kind| -> ApiResult<FactorInput> {
        Ok(FactorInput::SentCode {
            kind,
            method_id,
            code: code()?,
        })
    };
    match kind {
        FactorType::Totp => Ok(FactorInput::Totp {
            method_id,
            code: code()?,
        }),
        FactorType::RecoveryCode => Ok(FactorInput::RecoveryCode { code: code()? }),
        FactorType::Email => sent(MethodKind::Email),
        FactorType::Sms => sent(MethodKind::Sms),
        FactorType::Voice => sent(MethodKind::Voice),
        FactorType::Password => Err(ApiError::invalid_request(
            "a password is not a second factor",
        )),
        FactorType::Push => push_input(None),
        FactorType::Webauthn => Ok(FactorInput::WebAuthn {
            method_id,
            credential: credential.ok_or_else(|| {
                ApiError::invalid_request(
                    "`credential` (AuthenticationResponseJSON) is required for type webauthn",
                )
            })?,
        }),
    }
}
