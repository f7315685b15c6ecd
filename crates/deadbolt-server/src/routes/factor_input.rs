//! Turning a submitted `{type, method_id, code, credential}` into a factor to check.

use crate::error::{ApiError, ApiResult};
use crate::routes::views::FactorType;
use crate::services::factors::FactorInput;
use deadbolt_core::ids::MethodId;
use deadbolt_core::secret::Secret;

pub fn factor_input(
    kind: FactorType,
    method_id: Option<uuid::Uuid>,
    code: Option<String>,
) -> ApiResult<FactorInput> {
    let code = || {
        code.clone()
            .map(Secret::new)
            .ok_or_else(|| ApiError::InvalidRequest("`code` is required for this type".into()))
    };
    match kind {
        FactorType::Totp => Ok(FactorInput::Totp {
            method_id: method_id.map(MethodId),
            code: code()?,
        }),
        FactorType::RecoveryCode => Ok(FactorInput::RecoveryCode { code: code()? }),
        FactorType::Password => Err(ApiError::InvalidRequest(
            "a password is not a second factor".into(),
        )),
        FactorType::Email | FactorType::Sms | FactorType::Voice | FactorType::Webauthn => Err(
            ApiError::InvalidRequest("this account has no method of that type".into()),
        ),
    }
}
