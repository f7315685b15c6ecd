//! Enrolling a second factor: a TOTP app, a security key or passkey, or a code sent by email,
//! SMS or voice; a method is pending until its first code (or credential) confirms it.

use super::recovery_codes::{new_recovery_codes, recovery_method};
use super::{mfa_bucket, RESTRICTED_NOTICE};
use crate::challenge;
use crate::client::{Actor, ClientInfo};
use crate::codes::{self, Checked, CodeFor};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factor_policy;
use crate::factors::{clean_code, open_totp, totp_aad};
use crate::methods;
use crate::notice::Notice;
use crate::notify::notice;
use crate::sessions::account_for;
use crate::stepup;
use deadbolt_core::account::Account;
use deadbolt_core::code::CodePurpose;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::MethodId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::phone::Phone;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_core::totp::{self, TotpSecret};
use deadbolt_store::{
    method_writes, BatchOutcome, EventRecord, MethodRecord, RecoveryCodeRecord, SealedMessage,
    TotpRecord, Write,
};
use serde_json::json;

pub struct TotpEnrollment {
    pub method_id: MethodId,
    pub secret: Secret,
    pub otpauth_uri: Secret,
    pub qr_svg: String,
}

/// The start shared by every enrolment: a label checked, a step-up while MFA is on (a stolen
/// password must not be enough to add an attacker's authenticator), and the pending method.
/// An earlier pending method of the same kind is dropped, so unconfirmed methods cannot pile up.
pub(super) struct Enrolment {
    pub(super) account: Account,
    pub(super) method: MethodRecord,
    pub(super) grant: Option<stepup::GrantUse>,
    pub(super) writes: Vec<Write>,
}

pub(super) async fn start_enrolment(
    ctx: &Context,
    client: &ClientInfo,
    who: Actor<'_>,
    kind: MethodKind,
    label: String,
    destination: Option<String>,
) -> DomainResult<Enrolment> {
    let account = account_for(ctx, who).await?;
    if label.trim().is_empty() || label.chars().count() > 64 {
        return Err(DomainError::InvalidRequest(
            "label must be 1 to 64 characters".into(),
        ));
    }
    factor_policy::ensure_allowed(ctx, kind)?;
    // no factor before the address is proven (see `may_add_factors`: account pre-hijacking)
    if !account.may_add_factors() {
        return Err(DomainError::EmailUnverified);
    }
    let under_step_up = methods::is_enabled(&ctx.store.methods_of(account.id).await?);
    // With MFA on, every new method needs a step-up; the first one needs a recent sign-in or a
    // step-up, so that a stolen session cannot plant the factor that then locks the owner out.
    // (a client acting for its subject on its own credentials is asked for neither: see Actor)
    let grant = if under_step_up {
        stepup::require_for(ctx, who, Action::MFA_MANAGE).await?
    } else {
        stepup::require_recent_for(ctx, who, Action::MFA_MANAGE).await?
    };
    let now = ctx.clock.now();
    let method = MethodRecord {
        id: MethodId::generate(ctx.rng.as_ref()),
        account_id: account.id,
        kind,
        label,
        confirmed_at: None,
        is_primary: false,
        created_at: now,
        last_used_at: None,
        consecutive_failures: 0,
        last_failure_at: None,
        disabled_at: None,
        enrolled_under_step_up: under_step_up,
        destination,
    };
    let added = event(
        ctx,
        EventKind::MfaMethodAdded,
        Some(account.id),
        client,
        json!({"method_id": method.id, "type": kind.as_str(), "pending": true}),
    );
    let writes = vec![
        method_writes::delete_pending(account.id, kind),
        method.insert(),
        added.write(),
    ];
    Ok(Enrolment {
        account,
        method,
        grant,
        writes,
    })
}

/// Starts a TOTP enrolment.
pub async fn enroll_totp(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    label: Option<String>,
) -> DomainResult<TotpEnrollment> {
    let label = label.unwrap_or_else(|| "Authenticator app".to_owned());
    let Enrolment {
        account,
        method,
        grant,
        mut writes,
    } = start_enrolment(ctx, client, who.into(), MethodKind::Totp, label, None).await?;
    let secret = TotpSecret::generate(ctx.rng.as_ref());
    let params = ctx.policy.get().totp;
    let (master_key_id, sealed) = ctx
        .master
        .seal(secret.as_bytes(), &totp_aad(method.id), ctx.rng.as_ref())
        .map_err(DomainError::Internal)?;
    let record = TotpRecord {
        method_id: method.id,
        master_key_id,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        algorithm: params.algorithm.as_str().to_lowercase(),
        digits: params.digits,
        period_seconds: params.period_seconds,
        last_step: -1,
    };
    writes.push(record.insert());
    stepup::commit_with(ctx, grant, writes).await?;
    let uri = totp::otpauth_uri(&secret, &params, &ctx.config.mfa.issuer, account.known_as());
    let qr_svg = qr_svg(&uri)?;
    Ok(TotpEnrollment {
        method_id: method.id,
        secret: Secret::new(secret.to_base32()),
        otpauth_uri: Secret::new(uri),
        qr_svg,
    })
}

pub struct WebauthnEnrollment {
    pub method_id: MethodId,
    /// PublicKeyCredentialCreationOptionsJSON.
    pub public_key: serde_json::Value,
}

/// Starts a security key or passkey enrolment: creation options for the client, and a pending
/// method that the registration confirms.
pub async fn enroll_webauthn(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    label: Option<String>,
) -> DomainResult<WebauthnEnrollment> {
    let label = label.unwrap_or_else(|| "Security key".to_owned());
    let Enrolment {
        account,
        method,
        grant,
        mut writes,
    } = start_enrolment(ctx, client, who.into(), MethodKind::WebAuthn, label, None).await?;
    let (public_key, ceremony) =
        crate::webauthn::start_registration(ctx, &account, method.id).await?;
    writes.push(ceremony);
    stepup::commit_with(ctx, grant, writes).await?;
    Ok(WebauthnEnrollment {
        method_id: method.id,
        public_key,
    })
}

/// What confirms a pending method: a code, or a WebAuthn registration.
pub enum Confirmation {
    Code(Secret),
    /// RegistrationResponseJSON, as received.
    Credential(serde_json::Value),
}

pub struct CodeEnrollment {
    pub method_id: MethodId,
    pub sent_to: String,
    pub resend_after: i64,
    /// SMS and voice: what the user is told about restricted authenticators.
    pub restricted_notice: Option<&'static str>,
}

/// Starts an email, SMS or voice enrolment: the method waits, pending, for the code just sent
/// to prove the channel. Email goes to the account's verified address; SMS and voice to
/// `phone`, or the account's verified number.
pub async fn enroll_sent_code(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    kind: MethodKind,
    phone: Option<String>,
    label: Option<String>,
) -> DomainResult<CodeEnrollment> {
    let who = who.into();
    let account = account_for(ctx, who).await?;
    let (default_label, destination) = match kind {
        MethodKind::Email if !account.email_verified => return Err(DomainError::EmailUnverified),
        MethodKind::Email => ("Email".to_owned(), Some(account.email.as_str().to_owned())),
        MethodKind::Sms | MethodKind::Voice => {
            let phone = match (phone, &account.phone) {
                (Some(raw), _) => Phone::parse(&raw)?,
                (None, Some(p)) if account.phone_verified => p.clone(),
                (None, _) => {
                    return Err(DomainError::InvalidRequest(
                        "`phone` is required: this account has no verified phone number".into(),
                    ))
                }
            };
            let name = if kind == MethodKind::Sms {
                "Text message"
            } else {
                "Phone call"
            };
            (
                format!("{name} to {}", phone.masked()),
                Some(phone.as_str().to_owned()),
            )
        }
        MethodKind::Totp | MethodKind::RecoveryCode | MethodKind::WebAuthn | MethodKind::Push => {
            return Err(DomainError::InvalidRequest(format!(
                "{} methods are not enrolled by code",
                kind.as_str()
            )))
        }
    };
    let Enrolment {
        method,
        grant,
        mut writes,
        ..
    } = start_enrolment(
        ctx,
        client,
        who,
        kind,
        label.unwrap_or(default_label),
        destination,
    )
    .await?;
    let to = challenge::destination_of(&account, &method)?;
    let what = enrolment_code(method.id);
    codes::ready_to_send(ctx, &account, &what, &to)
        .await?
        .map_err(codes::refused)?;
    writes.extend(codes::code_writes(ctx, &account, client, &what, &to)?);
    // the send limits' guard is the only guard here: it lost a race with a parallel send
    if let BatchOutcome::GuardFailed(_) = stepup::commit_with(ctx, grant, writes).await? {
        return Err(codes::refusal(ctx, &account, &what, &to).await?);
    }
    Ok(CodeEnrollment {
        method_id: method.id,
        sent_to: to.masked(),
        resend_after: ctx.config.codes.resend_after_seconds,
        restricted_notice: kind.is_restricted().then_some(RESTRICTED_NOTICE),
    })
}

/// The code that proves a pending method's channel is bound to that method.
fn enrolment_code(method: MethodId) -> CodeFor {
    CodeFor {
        purpose: CodePurpose::EnrollMethod,
        scope: Some(method.to_string()),
    }
}

/// Sends a new code for a pending email, SMS or voice method, within the resend limits.
pub async fn resend_enrolment_code(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    id: MethodId,
) -> DomainResult<challenge::CodeSent> {
    let account = account_for(ctx, who.into()).await?;
    let method = ctx
        .store
        .methods_of(account.id)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(DomainError::NotFound)?;
    if method.confirmed_at.is_some() || !method.kind.is_sent_code() {
        return Err(DomainError::InvalidRequest(
            "this method is not waiting for a code".into(),
        ));
    }
    factor_policy::ensure_allowed(ctx, method.kind)?;
    let to = challenge::destination_of(&account, &method)?;
    codes::send(ctx, client, &account, &enrolment_code(id), &to).await??;
    Ok(challenge::CodeSent {
        sent_to: to.masked(),
        resend_after: ctx.config.codes.resend_after_seconds,
    })
}

fn qr_svg(data: &str) -> DomainResult<String> {
    let code = qrcode::QrCode::new(data.as_bytes())
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

pub struct Confirmed {
    pub method: MethodRecord,
    /// Present when this confirmation turned MFA on: shown once.
    pub recovery_codes: Option<Vec<Secret>>,
}

/// Confirms a pending method with its first code. The first method turns MFA on: it becomes the
/// primary, and ten recovery codes are made.
pub async fn confirm(
    ctx: &Context,
    client: &ClientInfo,
    who: impl Into<Actor<'_>>,
    id: MethodId,
    proof: Confirmation,
) -> DomainResult<Confirmed> {
    let who = who.into();
    let account = account_for(ctx, who).await?;
    let methods = ctx.store.methods_of(account.id).await?;
    let method = methods
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or(DomainError::NotFound)?;
    if method.confirmed_at.is_some() || method.kind == MethodKind::RecoveryCode {
        return Err(DomainError::InvalidRequest(
            "this method is not waiting for confirmation".into(),
        ));
    }
    // policy may have changed since the enrolment began
    factor_policy::ensure_allowed(ctx, method.kind)?;
    let now = ctx.clock.now();
    let code = match (proof, method.kind) {
        (Confirmation::Credential(credential), MethodKind::WebAuthn) => {
            let spend = crate::webauthn::finish_registration(ctx, &account, &method, &credential)
                .await
                .inspect_err(|_| {
                    tracing::debug!(method_id = %id, "webauthn registration refused");
                })?;
            return confirmed(ctx, client, who, account, methods, method, spend).await;
        }
        (Confirmation::Code(_), MethodKind::WebAuthn) => {
            return Err(DomainError::InvalidRequest(
                "`credential` (RegistrationResponseJSON) is required to confirm a security key"
                    .into(),
            ))
        }
        (Confirmation::Credential(_), _) => {
            return Err(DomainError::InvalidRequest(
                "`code` is required to confirm this method".into(),
            ))
        }
        (Confirmation::Code(code), _) => clean_code(&code),
    };
    let wrong_code = || {
        event(
            ctx,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"purpose": "enroll_method", "method_id": id, "type": method.kind.as_str()}),
        )
        .write()
    };
    // the writes that spend the code: guards, so of two racing confirmations one wins
    let spend = if method.kind == MethodKind::Totp {
        let rec = ctx.store.totp_of(id).await?.ok_or(DomainError::NotFound)?;
        let (secret, params) = open_totp(ctx, &rec)?;
        let Some(step) = totp::verify(&secret, &params, code.expose(), now, Some(rec.last_step))
        else {
            ctx.store.method_failed(id, now, false).await?;
            ctx.commit(vec![wrong_code()]).await?;
            return Err(DomainError::InvalidCode);
        };
        vec![method_writes::accept_totp_step(id, step)]
    } else {
        match codes::compare(ctx, &account, &enrolment_code(id), &code).await? {
            Checked::Right(sent) => vec![sent.consume(now)],
            Checked::Wrong(counted) => {
                ctx.commit(vec![counted, wrong_code()]).await?;
                return Err(DomainError::InvalidCode);
            }
            Checked::Dead => {
                ctx.commit(vec![wrong_code()]).await?;
                return Err(DomainError::InvalidCode);
            }
        }
    };
    confirmed(ctx, client, who, account, methods, method, spend).await
}

/// The rest of a confirmation once the method's proof checked out: `spend` (guards) spends it.
pub(super) async fn confirmed(
    ctx: &Context,
    client: &ClientInfo,
    who: Actor<'_>,
    account: Account,
    methods: Vec<MethodRecord>,
    method: MethodRecord,
    spend: Vec<Write>,
) -> DomainResult<Confirmed> {
    let id = method.id;
    let now = ctx.clock.now();
    let was_enabled = methods::is_enabled(&methods);
    // a method enrolled while MFA was off must not become a second factor without a step-up
    let grant = if was_enabled && !method.enrolled_under_step_up {
        stepup::require_for(ctx, who, Action::MFA_MANAGE).await?
    } else {
        None
    };
    // serialised with removals and turning MFA off (PostgreSQL): a method confirmed while the
    // last other one is removed is not deleted with it
    let mut writes: Vec<Write> = ctx
        .store
        .lock_bucket(&mfa_bucket(account.id))
        .into_iter()
        .collect();
    if !was_enabled {
        // Two methods confirmed at once while MFA was off would each make recovery codes:
        // the first to commit turns MFA on, the other fails here and can try again.
        writes.extend(ctx.store.lock_bucket(&format!("mfa:enable:{}", account.id)));
        writes.push(method_writes::mfa_still_off(account.id));
    }
    writes.push(method_writes::confirm_method(id, now));
    writes.extend(spend);
    let mut events = vec![event(
        ctx,
        EventKind::MfaMethodConfirmed,
        Some(account.id),
        client,
        json!({"method_id": id, "type": method.kind.as_str()}),
    )];
    let mut mails: Vec<SealedMessage> = Vec::new();
    let mut recovery_codes = None;
    if !was_enabled {
        let (codes, rows) = new_recovery_codes(ctx, account.id).await?;
        // a device trusted before MFA was trusted for less than it would now stand in for,
        // and a step-up won with the password alone is worth less than one now needs
        writes.push(deadbolt_store::revoke_all_devices(account.id, now));
        writes.push(deadbolt_store::end_grants_of(account.id, now));
        writes.push(method_writes::delete_recovery_codes(account.id));
        writes.extend(rows.iter().map(RecoveryCodeRecord::insert));
        if !methods.iter().any(|m| m.kind == MethodKind::RecoveryCode) {
            writes.push(recovery_method(ctx, account.id).insert());
        }
        events.push(event(
            ctx,
            EventKind::MfaEnabled,
            Some(account.id),
            client,
            json!({"method_id": id}),
        ));
        mails.extend(notice(ctx, &account, Notice::MfaEnabled, client)?);
        recovery_codes = Some(codes);
    } else {
        mails.extend(notice(ctx, &account, Notice::MethodAdded, client)?);
    }
    if !methods.iter().any(|m| m.is_primary && m.is_active()) {
        writes.extend(method_writes::set_primary(account.id, id));
    }
    writes.extend(events.iter().map(EventRecord::write));
    writes.extend(mails.iter().map(SealedMessage::write));
    match stepup::commit_with(ctx, grant, writes).await {
        Ok(BatchOutcome::Committed) => {}
        // raced with another confirmation (of this method, or another turning MFA on)
        Ok(BatchOutcome::GuardFailed(_)) => return Err(DomainError::InvalidCode),
        // the same credential confirmed at the same instant by another account or method
        Err(e) if e.is_conflict() && method.kind == MethodKind::WebAuthn => {
            return Err(DomainError::InvalidCredential(
                "this security key or passkey is already registered".into(),
            ))
        }
        Err(e) if e.is_conflict() => return Err(DomainError::InvalidCode),
        Err(e) => return Err(e),
    }
    let method = ctx
        .store
        .methods_of(account.id)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(DomainError::NotFound)?;
    Ok(Confirmed {
        method,
        recovery_codes,
    })
}
