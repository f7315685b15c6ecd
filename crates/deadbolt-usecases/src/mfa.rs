//! An account's second-factor methods: enrolment, confirmation, the primary method, removal,
//! recovery codes, and turning MFA off.

use crate::challenge;
use crate::client::{ClientInfo, Principal};
use crate::codes::{self, Checked, CodeFor};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::factor_policy;
use crate::factors::{clean_code, open_totp, totp_aad};
use crate::notice::Notice;
use crate::notify::notice;
use crate::sessions::account_of;
use crate::stepup;
use deadbolt_core::account::Account;
use deadbolt_core::code::CodePurpose;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, MethodId, RecoveryCodeId};
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::phone::Phone;
use deadbolt_core::recovery;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_core::totp::{self, TotpSecret};
use deadbolt_store::{
    method_writes, revoke_all_devices, BatchOutcome, EventRecord, MethodRecord, RecoveryCodeRecord,
    SealedMessage, TotpRecord, Write,
};
use serde_json::json;

pub struct Overview {
    pub enabled: bool,
    pub methods: Vec<MethodRecord>,
    pub recovery_codes_remaining: i64,
}

pub async fn overview(state: &Context, account: AccountId) -> DomainResult<Overview> {
    let all = state.store.methods_of(account).await?;
    let enabled = challenge::is_enabled(&all);
    let mut methods: Vec<MethodRecord> = all
        .into_iter()
        .filter(|m| m.confirmed_at.is_some())
        .collect();
    methods.sort_by_key(|m| (!m.is_primary, m.kind.is_fallback_only(), m.created_at));
    let recovery_codes_remaining = state.store.recovery_codes_remaining(account).await?;
    Ok(Overview {
        enabled,
        methods,
        recovery_codes_remaining,
    })
}

pub struct TotpEnrollment {
    pub method_id: MethodId,
    pub secret: Secret,
    pub otpauth_uri: Secret,
    pub qr_svg: String,
}

/// Whether policy requires `account` to have a second factor (enforcement and
/// `required_for_roles`). An identity provider's account is not asked here.
pub fn required_by_policy(state: &Context, account: &Account) -> bool {
    account.sso_provider.is_none() && state.policy.get().requires_mfa(&account.roles)
}

/// What users are told when they choose a restricted authenticator.
pub const RESTRICTED_NOTICE: &str = "SMS and voice codes are a restricted authenticator \
    (NIST SP 800-63B): a phone number can be taken over and messages intercepted. Prefer an \
    authenticator app or a security key, and keep this as a fallback.";

/// The start shared by every enrolment: a label checked, a step-up while MFA is on (a stolen
/// password must not be enough to add an attacker's authenticator), and the pending method.
/// An earlier pending method of the same kind is dropped, so unconfirmed methods cannot pile up.
struct Enrolment {
    account: Account,
    method: MethodRecord,
    grant: Option<stepup::GrantUse>,
    writes: Vec<Write>,
}

async fn start_enrolment(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    kind: MethodKind,
    label: String,
    destination: Option<String>,
) -> DomainResult<Enrolment> {
    let account = account_of(state, who).await?;
    if label.trim().is_empty() || label.chars().count() > 64 {
        return Err(DomainError::InvalidRequest(
            "label must be 1 to 64 characters".into(),
        ));
    }
    factor_policy::ensure_allowed(state, kind)?;
    // whoever signs up with an address they do not own must gain nothing that survives its
    // owner's claim on it (account pre-hijacking)
    if !account.email_verified {
        return Err(DomainError::EmailUnverified);
    }
    let under_step_up = challenge::is_enabled(&state.store.methods_of(account.id).await?);
    // With MFA on, every new method needs a step-up; the first one needs a recent sign-in or a
    // step-up, so that a stolen session cannot plant the factor that then locks the owner out.
    let grant = if under_step_up {
        Some(stepup::require(state, who, Action::MFA_MANAGE).await?)
    } else {
        stepup::require_recent(state, who, Action::MFA_MANAGE).await?
    };
    let now = state.clock.now();
    let method = MethodRecord {
        id: MethodId::generate(state.rng.as_ref()),
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
        state,
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
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    label: Option<String>,
) -> DomainResult<TotpEnrollment> {
    let label = label.unwrap_or_else(|| "Authenticator app".to_owned());
    let Enrolment {
        account,
        method,
        grant,
        mut writes,
    } = start_enrolment(state, client, who, MethodKind::Totp, label, None).await?;
    let secret = TotpSecret::generate(state.rng.as_ref());
    let params = state.policy.get().totp;
    let (master_key_id, sealed) = state
        .master
        .seal(secret.as_bytes(), &totp_aad(method.id), state.rng.as_ref())
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
    stepup::commit_with(state, grant, writes).await?;
    let uri = totp::otpauth_uri(
        &secret,
        &params,
        &state.config.mfa.issuer,
        account.email.as_str(),
    );
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
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    label: Option<String>,
) -> DomainResult<WebauthnEnrollment> {
    let label = label.unwrap_or_else(|| "Security key".to_owned());
    let Enrolment {
        account,
        method,
        grant,
        mut writes,
    } = start_enrolment(state, client, who, MethodKind::WebAuthn, label, None).await?;
    let (public_key, ceremony) =
        crate::webauthn::start_registration(state, &account, method.id).await?;
    writes.push(ceremony);
    stepup::commit_with(state, grant, writes).await?;
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
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    kind: MethodKind,
    phone: Option<String>,
    label: Option<String>,
) -> DomainResult<CodeEnrollment> {
    let account = account_of(state, who).await?;
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
        MethodKind::Totp | MethodKind::RecoveryCode | MethodKind::WebAuthn => {
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
        state,
        client,
        who,
        kind,
        label.unwrap_or(default_label),
        destination,
    )
    .await?;
    let to = challenge::destination_of(&account, &method)?;
    let what = enrolment_code(method.id);
    codes::ready_to_send(state, &account, &what, &to)
        .await?
        .map_err(codes::refused)?;
    writes.extend(codes::code_writes(state, &account, client, &what, &to)?);
    // the send limits' guard is the only guard here: it lost a race with a parallel send
    if let BatchOutcome::GuardFailed(_) = stepup::commit_with(state, grant, writes).await? {
        return Err(codes::refusal(state, &account, &what, &to).await?);
    }
    Ok(CodeEnrollment {
        method_id: method.id,
        sent_to: to.masked(),
        resend_after: state.config.codes.resend_after_seconds,
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
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: MethodId,
) -> DomainResult<challenge::CodeSent> {
    let account = account_of(state, who).await?;
    let method = state
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
    factor_policy::ensure_allowed(state, method.kind)?;
    let to = challenge::destination_of(&account, &method)?;
    codes::send(state, client, &account, &enrolment_code(id), &to).await??;
    Ok(challenge::CodeSent {
        sent_to: to.masked(),
        resend_after: state.config.codes.resend_after_seconds,
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

/// New recovery codes: the codes to show once, and the rows to store (Argon2id, per-code salt).
async fn new_recovery_codes(
    state: &Context,
    account: AccountId,
) -> DomainResult<(Vec<Secret>, Vec<RecoveryCodeRecord>)> {
    let now = state.clock.now();
    let hashing = state.keys.hashing();
    let codes: Vec<Secret> = (0..recovery::RECOVERY_CODE_COUNT)
        .map(|_| recovery::generate(state.rng.as_ref()))
        .collect();
    let normalized: Vec<Secret> = codes
        .iter()
        .map(|c| Secret::new(recovery::normalize(c.expose()).unwrap_or_default()))
        .collect();
    let hasher = state.passwords.clone();
    let rng = state.rng.clone();
    let to_hash = normalized.clone();
    let hashes = state
        .hash_pool
        .run(move || {
            to_hash
                .iter()
                .map(|c| hasher.hash(c, rng.as_ref()))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("argon2: {e}")))?;
    let rows = normalized
        .iter()
        .zip(hashes)
        .map(|(n, h)| RecoveryCodeRecord {
            id: RecoveryCodeId::generate(state.rng.as_ref()),
            account_id: account,
            lookup: recovery::lookup_key(&hashing.live().hasher, account, n.expose())
                .0
                .to_vec(),
            hash: h.0,
            created_at: now,
            used_at: None,
            hash_key_id: Some(hashing.live().id.clone()),
        })
        .collect();
    Ok((codes, rows))
}

pub struct Confirmed {
    pub method: MethodRecord,
    /// Present when this confirmation turned MFA on: shown once.
    pub recovery_codes: Option<Vec<Secret>>,
}

/// Confirms a pending method with its first code. The first method turns MFA on: it becomes the
/// primary, and ten recovery codes are made.
pub async fn confirm(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: MethodId,
    proof: Confirmation,
) -> DomainResult<Confirmed> {
    let account = account_of(state, who).await?;
    let methods = state.store.methods_of(account.id).await?;
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
    factor_policy::ensure_allowed(state, method.kind)?;
    let now = state.clock.now();
    let code = match (proof, method.kind) {
        (Confirmation::Credential(credential), MethodKind::WebAuthn) => {
            let spend = crate::webauthn::finish_registration(state, &account, &method, &credential)
                .await
                .inspect_err(|_| {
                    tracing::debug!(method_id = %id, "webauthn registration refused");
                })?;
            return confirmed(state, client, who, account, methods, method, spend).await;
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
            state,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"purpose": "enroll_method", "method_id": id, "type": method.kind.as_str()}),
        )
        .write()
    };
    // the writes that spend the code: guards, so of two racing confirmations one wins
    let spend = if method.kind == MethodKind::Totp {
        let rec = state
            .store
            .totp_of(id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let (secret, params) = open_totp(state, &rec)?;
        let Some(step) = totp::verify(&secret, &params, code.expose(), now, Some(rec.last_step))
        else {
            state.store.method_failed(id, now, false).await?;
            state.commit(vec![wrong_code()]).await?;
            return Err(DomainError::InvalidCode);
        };
        vec![method_writes::accept_totp_step(id, step)]
    } else {
        match codes::compare(state, &account, &enrolment_code(id), &code).await? {
            Checked::Right(sent) => vec![sent.consume(now)],
            Checked::Wrong(counted) => {
                state.commit(vec![counted, wrong_code()]).await?;
                return Err(DomainError::InvalidCode);
            }
            Checked::Dead => {
                state.commit(vec![wrong_code()]).await?;
                return Err(DomainError::InvalidCode);
            }
        }
    };
    confirmed(state, client, who, account, methods, method, spend).await
}

/// The rest of a confirmation once the method's proof checked out: `spend` (guards) spends it.
async fn confirmed(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    account: Account,
    methods: Vec<MethodRecord>,
    method: MethodRecord,
    spend: Vec<Write>,
) -> DomainResult<Confirmed> {
    let id = method.id;
    let now = state.clock.now();
    let was_enabled = challenge::is_enabled(&methods);
    // a method enrolled while MFA was off must not become a second factor without a step-up
    let grant = if was_enabled && !method.enrolled_under_step_up {
        Some(stepup::require(state, who, Action::MFA_MANAGE).await?)
    } else {
        None
    };
    // serialised with removals and turning MFA off (PostgreSQL): a method confirmed while the
    // last other one is removed is not deleted with it
    let mut writes: Vec<Write> = state
        .store
        .lock_bucket(&mfa_bucket(account.id))
        .into_iter()
        .collect();
    if !was_enabled {
        // Two methods confirmed at once while MFA was off would each make recovery codes:
        // the first to commit turns MFA on, the other fails here and can try again.
        writes.extend(
            state
                .store
                .lock_bucket(&format!("mfa:enable:{}", account.id)),
        );
        writes.push(method_writes::mfa_still_off(account.id));
    }
    writes.push(method_writes::confirm_method(id, now));
    writes.extend(spend);
    let mut events = vec![event(
        state,
        EventKind::MfaMethodConfirmed,
        Some(account.id),
        client,
        json!({"method_id": id, "type": method.kind.as_str()}),
    )];
    let mut mails: Vec<SealedMessage> = Vec::new();
    let mut recovery_codes = None;
    if !was_enabled {
        let (codes, rows) = new_recovery_codes(state, account.id).await?;
        // a device trusted before MFA was trusted for less than it would now stand in for,
        // and a step-up won with the password alone is worth less than one now needs
        writes.push(deadbolt_store::revoke_all_devices(account.id, now));
        writes.push(deadbolt_store::end_grants_of(account.id, now));
        writes.push(method_writes::delete_recovery_codes(account.id));
        writes.extend(rows.iter().map(RecoveryCodeRecord::insert));
        if !methods.iter().any(|m| m.kind == MethodKind::RecoveryCode) {
            writes.push(recovery_method(state, account.id).insert());
        }
        events.push(event(
            state,
            EventKind::MfaEnabled,
            Some(account.id),
            client,
            json!({"method_id": id}),
        ));
        mails.push(notice(state, &account, Notice::MfaEnabled, client)?);
        recovery_codes = Some(codes);
    } else {
        mails.push(notice(state, &account, Notice::MethodAdded, client)?);
    }
    if !methods.iter().any(|m| m.is_primary && m.is_active()) {
        writes.extend(method_writes::set_primary(account.id, id));
    }
    writes.extend(events.iter().map(EventRecord::write));
    writes.extend(mails.iter().map(SealedMessage::write));
    match stepup::commit_with(state, grant, writes).await {
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
    let method = state
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

/// The row that stands for an account's recovery codes in its list of methods.
fn recovery_method(state: &Context, account: AccountId) -> MethodRecord {
    let now = state.clock.now();
    MethodRecord {
        id: MethodId::generate(state.rng.as_ref()),
        account_id: account,
        kind: MethodKind::RecoveryCode,
        label: "Recovery codes".to_owned(),
        confirmed_at: Some(now),
        is_primary: false,
        created_at: now,
        last_used_at: None,
        consecutive_failures: 0,
        last_failure_at: None,
        disabled_at: None,
        enrolled_under_step_up: false,
        destination: None,
    }
}

pub async fn set_primary(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: MethodId,
) -> DomainResult<()> {
    let account = who.session.account_id;
    let mut writes = method_writes::set_primary(account, id);
    writes.push(
        event(
            state,
            EventKind::PrimaryMethodChanged,
            Some(account),
            client,
            json!({"method_id": id}),
        )
        .write(),
    );
    match state.commit(writes).await? {
        BatchOutcome::Committed => Ok(()),
        BatchOutcome::GuardFailed(_) => Err(DomainError::InvalidRequest(
            "method_id must name a confirmed, enabled method other than recovery codes".into(),
        )),
    }
}

/// The lock every change of whether MFA is on takes first (PostgreSQL; SQLite has one writer):
/// a confirmation, a removal, turning it off, an administrator's reset.
pub(crate) fn mfa_bucket(account: AccountId) -> String {
    format!("mfa:{account}")
}

/// The writes that turn MFA off: every method and recovery code gone, trusted devices revoked.
pub(crate) fn mfa_off_writes(state: &Context, account: AccountId) -> Vec<Write> {
    vec![
        method_writes::delete_recovery_codes(account),
        method_writes::delete_all_methods(account),
        revoke_all_devices(account, state.clock.now()),
    ]
}

/// Removes a method (step-up `mfa.manage`). Removing the last one turns MFA off, exactly once:
/// each removal is guarded on what it was decided on (another method kept, none left, the
/// method still pending) and is decided again once if a parallel change made that untrue.
pub async fn remove(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: MethodId,
) -> DomainResult<()> {
    match remove_once(state, client, who, id).await? {
        Removal::Done => Ok(()),
        Removal::Changed => match remove_once(state, client, who, id).await? {
            Removal::Done => Ok(()),
            // the method list changed twice under this one request: let the user try again
            Removal::Changed => Err(DomainError::Unavailable),
        },
    }
}

enum Removal {
    Done,
    /// A parallel change (a removal, a confirmation) made untrue what this one was decided on.
    Changed,
}

async fn remove_once(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
    id: MethodId,
) -> DomainResult<Removal> {
    let account = account_of(state, who).await?;
    let methods = state.store.methods_of(account.id).await?;
    let method = methods
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or(DomainError::NotFound)?;
    if method.kind == MethodKind::RecoveryCode {
        return Err(DomainError::InvalidRequest(
            "recovery codes go with MFA: regenerate them, or disable MFA".into(),
        ));
    }
    let remaining: Vec<&MethodRecord> = methods
        .iter()
        .filter(|m| m.id != id && m.confirmed_at.is_some() && !m.kind.is_fallback_only())
        .collect();
    if remaining.is_empty() && method.confirmed_at.is_some() && required_by_policy(state, &account)
    {
        return Err(DomainError::PolicyRequiresMfa);
    }
    let grant = stepup::require(state, who, Action::MFA_MANAGE).await?;
    let turns_mfa_off = remaining.is_empty() && method.confirmed_at.is_some();
    let mut writes: Vec<Write> = state
        .store
        .lock_bucket(&mfa_bucket(account.id))
        .into_iter()
        .collect();
    let delete_at = writes.len();
    writes.push(if method.confirmed_at.is_none() {
        method_writes::delete_pending_method(account.id, id)
    } else if turns_mfa_off {
        method_writes::delete_last_method(account.id, id)
    } else {
        method_writes::delete_method_keeping_another(account.id, id)
    });
    let mut events = vec![event(
        state,
        EventKind::MfaMethodRemoved,
        Some(account.id),
        client,
        json!({"method_id": id, "type": method.kind.as_str()}),
    )];
    let mut mails = vec![notice(state, &account, Notice::MethodRemoved, client)?];
    if turns_mfa_off {
        writes.extend(mfa_off_writes(state, account.id));
        events.push(event(
            state,
            EventKind::MfaDisabled,
            Some(account.id),
            client,
            json!({"reason": "last_method_removed"}),
        ));
        mails.push(notice(state, &account, Notice::MfaDisabled, client)?);
    } else if method.is_primary {
        if let Some(next) = remaining.first() {
            writes.extend(method_writes::set_primary(account.id, next.id));
        }
    }
    writes.extend(events.iter().map(EventRecord::write));
    writes.extend(mails.iter().map(SealedMessage::write));
    match stepup::commit_with(state, Some(grant), writes).await? {
        BatchOutcome::Committed => Ok(Removal::Done),
        BatchOutcome::GuardFailed(i)
            if i == delete_at
                && state
                    .store
                    .methods_of(account.id)
                    .await?
                    .iter()
                    .any(|m| m.id == id) =>
        {
            Ok(Removal::Changed)
        }
        BatchOutcome::GuardFailed(_) => Err(DomainError::NotFound),
    }
}

/// New recovery codes (step-up `mfa.manage`); the old set dies.
pub async fn regenerate_recovery_codes(
    state: &Context,
    client: &ClientInfo,
    who: &Principal,
) -> DomainResult<Vec<Secret>> {
    let account = account_of(state, who).await?;
    let methods = state.store.methods_of(account.id).await?;
    if !challenge::is_enabled(&methods) {
        return Err(DomainError::InvalidRequest(
            "MFA is off: recovery codes come with the first method".into(),
        ));
    }
    let grant = stepup::require(state, who, Action::MFA_MANAGE).await?;
    let (codes, rows) = new_recovery_codes(state, account.id).await?;
    let mut writes = vec![method_writes::delete_recovery_codes(account.id)];
    writes.extend(rows.iter().map(RecoveryCodeRecord::insert));
    if !methods.iter().any(|m| m.kind == MethodKind::RecoveryCode) {
        writes.push(recovery_method(state, account.id).insert());
    }
    writes.push(
        event(
            state,
            EventKind::RecoveryCodesRegenerated,
            Some(account.id),
            client,
            json!({}),
        )
        .write(),
    );
    writes.push(notice(state, &account, Notice::RecoveryCodesRenewed, client)?.write());
    stepup::commit_with(state, Some(grant), writes).await?;
    Ok(codes)
}

/// Turns MFA off (step-up `mfa.manage`).
pub async fn disable(state: &Context, client: &ClientInfo, who: &Principal) -> DomainResult<()> {
    let account = account_of(state, who).await?;
    let methods = state.store.methods_of(account.id).await?;
    if !challenge::is_enabled(&methods) {
        return Ok(());
    }
    if required_by_policy(state, &account) {
        return Err(DomainError::PolicyRequiresMfa);
    }
    let grant = stepup::require(state, who, Action::MFA_MANAGE).await?;
    // guarded on MFA still being on: of parallel ways of turning it off, one alone does it
    let mut writes: Vec<Write> = state
        .store
        .lock_bucket(&mfa_bucket(account.id))
        .into_iter()
        .collect();
    writes.push(method_writes::delete_confirmed_factors(account.id));
    writes.extend(mfa_off_writes(state, account.id));
    writes.push(
        event(
            state,
            EventKind::MfaDisabled,
            Some(account.id),
            client,
            json!({"reason": "disabled_by_user"}),
        )
        .write(),
    );
    writes.push(notice(state, &account, Notice::MfaDisabled, client)?.write());
    // a guard that failed means a parallel request turned it off first: it is off, as asked
    stepup::commit_with(state, Some(grant), writes).await?;
    Ok(())
}
