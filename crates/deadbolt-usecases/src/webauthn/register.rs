//! Registering a security key or passkey: the creation options, then the attestation checked
//! and the credential stored as a pending method.

use super::{
    ceremony, challenge_hex, descriptor, internal, live, origins, parse_registration, rp_id,
    rp_id_of, timeout, user_handle, HANDLE_LEN, REGISTER,
};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use deadbolt_config::WebauthnConfig;
use deadbolt_core::account::Account;
use deadbolt_core::ids::{AccountId, MethodId};
use deadbolt_core::webauthn::{self as rules, AttestationPolicy, AttestationRefusal};
use deadbolt_store::{MethodRecord, WebauthnCredentialRecord, Write};
use serde_json::{json, Value};
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::register::{
    AuthenticatorAttachmentReq, AuthenticatorSelectionCriteria, CredProtect,
    PublicKeyCredentialUserEntity, RegistrationVerificationOptions, ResidentKeyRequirement,
    Username,
};
use webauthn_rp::request::{
    DomainOrigin, ExtensionReq, TimedCeremony, UserVerificationRequirement,
};
use webauthn_rp::response::register::error::RegCeremonyErr;
use webauthn_rp::response::register::Attestation;
use webauthn_rp::response::Backup;
use webauthn_rp::{PublicKeyCredentialCreationOptions, Registration, RegistrationServerState};

/// Creation options for a pending webauthn method, and the ceremony row to commit with it.
/// Asks for a discoverable credential and user verification where the authenticator can, so a
/// key enrolled here can also sign in without a password.
pub async fn start_registration(
    ctx: &Context,
    account: &Account,
    method: MethodId,
) -> DomainResult<(Value, Write)> {
    let rp = rp_id(ctx)?;
    let handle = user_handle(ctx, account.id).await?;
    let exclude = ctx
        .store
        .webauthn_credentials_of(account.id)
        .await?
        .iter()
        .map(descriptor)
        .collect::<DomainResult<Vec<_>>>()?;
    let name = Username::try_from(account.known_as())
        .or_else(|_| Username::try_from("deadbolt user"))
        .map_err(|e| internal("username", e))?;
    let user = PublicKeyCredentialUserEntity {
        name,
        id: &handle,
        display_name: None,
    };
    let mut options = PublicKeyCredentialCreationOptions::passkey(&rp, user, exclude);
    options.authenticator_selection = AuthenticatorSelectionCriteria {
        authenticator_attachment: AuthenticatorAttachmentReq::default(),
        resident_key: ResidentKeyRequirement::Preferred,
        user_verification: UserVerificationRequirement::Preferred,
    };
    options.extensions.cred_protect = CredProtect::None;
    options.extensions.cred_props = Some(ExtensionReq::Allow);
    options.timeout = timeout(ctx).0;
    let (server, client) = options
        .start_ceremony()
        .map_err(|e| internal("creation options", e))?;
    let mut public_key = serde_json::to_value(&client).map_err(|e| internal("options", e))?;
    if AttestationPolicy::parse(&ctx.config.webauthn.attestation)
        == Some(AttestationPolicy::Required)
    {
        public_key["attestation"] = json!("direct");
        public_key["attestationFormats"] = json!(["packed"]);
    }
    let encoded = server.encode().map_err(|e| internal("server state", e))?;
    let mut record = ceremony(ctx, REGISTER, server.sent_challenge(), encoded);
    record.account_id = Some(account.id);
    record.method_id = Some(method);
    Ok((public_key, record.insert()))
}

/// Verifies a pending method's registration: the writes that store the credential and spend
/// the ceremony (a guard), for the confirmation to commit.
pub async fn finish_registration(
    ctx: &Context,
    account: &Account,
    method: &MethodRecord,
    credential: &Value,
) -> DomainResult<Vec<Write>> {
    let (registration, challenge) = parse_registration(credential)?;
    let found = ctx
        .store
        .ceremony_by_challenge(&challenge_hex(challenge))
        .await?;
    let ceremony = live(ctx, found, REGISTER)?;
    if ceremony.account_id != Some(account.id) || ceremony.method_id != Some(method.id) {
        return Err(DomainError::InvalidCredential(
            "this credential answers another registration".into(),
        ));
    }
    let now = ctx.clock.now();
    let checked = verify_registration(
        &ctx.config.webauthn,
        &ceremony.state,
        &registration,
        account.id,
        method.id,
        now,
    )?;
    let Registered {
        record,
        attested,
        aaguid,
    } = match checked {
        Ok(r) => r,
        Err(refused) => {
            // one credential per ceremony: a failed one is spent
            ctx.commit(vec![ceremony.spoil(now)]).await?;
            return Err(refused);
        }
    };
    if ctx
        .store
        .webauthn_credential(&record.credential_id)
        .await?
        .is_some()
    {
        return Err(DomainError::InvalidCredential(
            "this credential is already registered".into(),
        ));
    }
    let policy = AttestationPolicy::parse(&ctx.config.webauthn.attestation)
        .unwrap_or(AttestationPolicy::None);
    if let Err(why) =
        rules::check_attestation(policy, &ctx.config.webauthn.aaguids(), attested, aaguid)
    {
        ctx.commit(vec![ceremony.spoil(now)]).await?;
        return Err(DomainError::AttestationRefused(match why {
            AttestationRefusal::Missing => {
                "this service requires an attested authenticator; this one sent no attestation"
            }
            AttestationRefusal::AaguidNotAllowed => {
                "this model of authenticator is not on this service's allow list"
            }
        }));
    }
    Ok(vec![ceremony.consume(now), record.insert()])
}

/// A registration that verified: the credential row to store, and what the attestation
/// policy judges.
pub struct Registered {
    pub record: WebauthnCredentialRecord,
    pub attested: bool,
    pub aaguid: uuid::Uuid,
}

/// Verifies `registration` against its ceremony's stored server state under `config`'s RP ID
/// and origins, and builds the credential row. `Err`: the stored state or configuration is
/// broken; `Ok(Err)`: the registration is refused (the ceremony is then spent). Apart from the
/// store, this is all of [`finish_registration`]; public so that the fuzz targets can take a
/// hostile registration this far.
pub fn verify_registration(
    config: &WebauthnConfig,
    server_state: &[u8],
    registration: &Registration,
    account: AccountId,
    method: MethodId,
    now: time::OffsetDateTime,
) -> DomainResult<Result<Registered, DomainError>> {
    let server = RegistrationServerState::<HANDLE_LEN>::decode(server_state)
        .map_err(|e| internal("stored registration", e))?;
    let rp = rp_id_of(config)?;
    let allowed = origins(config)?;
    let options = RegistrationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &allowed,
        ..RegistrationVerificationOptions::default()
    };
    let registered = match server.verify(&rp, registration, &options) {
        Ok(r) => r,
        Err(e) => {
            return Ok(Err(match e {
                RegCeremonyErr::OriginMismatch
                | RegCeremonyErr::CrossOrigin
                | RegCeremonyErr::TopOriginMismatch => DomainError::WrongOrigin,
                RegCeremonyErr::Timeout => DomainError::CeremonyExpired,
                other => {
                    tracing::info!(error = ?other, "webauthn registration refused");
                    DomainError::InvalidCredential(
                        "the registration did not verify (challenge, RP ID, signature or flags)"
                            .into(),
                    )
                }
            }))
        }
    };
    let metadata = registered.metadata();
    let aaguid =
        uuid::Uuid::from_slice(metadata.aaguid.data()).map_err(|e| internal("aaguid", e))?;
    let attested = matches!(metadata.attestation, Attestation::Surrogate);
    let dynamic = registered.dynamic_state();
    let record = WebauthnCredentialRecord {
        method_id: method,
        account_id: account,
        credential_id: registered.id().as_ref().to_vec(),
        static_state: registered
            .static_state()
            .encode()
            .map_err(|e| internal("static state", e))?,
        dynamic_state: dynamic
            .encode()
            .map_err(|e| internal("dynamic state", e))?
            .to_vec(),
        sign_count: dynamic.sign_count,
        aaguid: aaguid.to_string(),
        attestation: if attested { "self" } else { "none" }.to_owned(),
        transports: registered
            .transports()
            .encode()
            .map_err(|e| internal("transports", e))?,
        backup_eligible: !matches!(dynamic.backup, Backup::NotEligible),
        backed_up: matches!(dynamic.backup, Backup::Exists),
        discoverable: metadata
            .client_extension_results
            .cred_props
            .and_then(|p| p.rk),
        created_at: now,
        last_used_at: None,
    };
    Ok(Ok(Registered {
        record,
        attested,
        aaguid,
    }))
}

// ---------------------------------------------------------------------------------------------
// Assertions
