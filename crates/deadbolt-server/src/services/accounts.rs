//! Sign-up, channel verification, and accounts made by an operator.

use crate::error::{ApiError, ApiResult};
use crate::extract::ClientInfo;
use crate::services::events::event;
use crate::state::AppState;
use deadbolt_core::account::{Account, Role};
use deadbolt_core::code::{self, CodeCheck, CodePurpose, CODE_TTL};
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::{AccountId, CodeId, MessageId};
use deadbolt_core::password::check_strength_for;
use deadbolt_core::phone::Phone;
use deadbolt_core::secret::Secret;
use deadbolt_store::{NewAccount, NewCode, OutboxMessage, StoreError};
use serde_json::json;

pub struct SignUp {
    pub email: String,
    pub password: Secret,
    pub phone: Option<String>,
}

/// Creates an account and sends a 6-digit code to its email.
pub async fn sign_up(state: &AppState, client: &ClientInfo, input: SignUp) -> ApiResult<Account> {
    let email = Email::parse(&input.email)?;
    let phone = input.phone.as_deref().map(Phone::parse).transpose()?;
    check_strength_for(&input.password, state.passwords.params(), &email)?;
    let password_hash = {
        let hasher = state.passwords.clone();
        let rng = state.rng.clone();
        let password = input.password;
        state
            .hash_pool
            .run(move || hasher.hash(&password, rng.as_ref()))
            .await?
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2: {e}")))?
    };
    let now = state.clock.now();
    let account = Account {
        id: AccountId::generate(state.rng.as_ref()),
        email,
        email_verified: false,
        phone,
        phone_verified: false,
        password_hash: Some(password_hash),
        roles: Vec::new(),
        created_at: now,
    };
    let (new_code, message) = verification_code(state, &account, CodePurpose::VerifyEmail);
    let created = event(
        state,
        EventKind::AccountCreated,
        Some(account.id),
        client,
        json!({"via": "sign_up"}),
    );
    let result = state
        .store
        .create_account(NewAccount {
            account: account.clone(),
            codes: vec![new_code],
            messages: vec![message],
            event: created,
        })
        .await;
    match result {
        Ok(()) => {
            state.outbox_wake.notify_one();
            Ok(account)
        }
        Err(StoreError::Conflict) => Err(ApiError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// A fresh code for `purpose` and the message that carries it. The code is the only 6-digit
/// number in the message, so people and tools can pick it out.
fn verification_code(
    state: &AppState,
    account: &Account,
    purpose: CodePurpose,
) -> (NewCode, OutboxMessage) {
    let now = state.clock.now();
    let secret = code::generate(state.rng.as_ref());
    let new_code = NewCode {
        id: CodeId::generate(state.rng.as_ref()),
        account_id: account.id,
        purpose,
        hash: code::hash(&state.keys.hasher, purpose, account.id, &secret)
            .0
            .to_vec(),
        expires_at: now + CODE_TTL,
        created_at: now,
    };
    let minutes = CODE_TTL.whole_minutes();
    let message = OutboxMessage {
        id: MessageId::generate(state.rng.as_ref()),
        channel: "email".to_owned(),
        recipient: account.email.as_str().to_owned(),
        subject: "Verify your email address".to_owned(),
        body_text: format!(
            "Your verification code is {}.\n\nIt expires in {minutes} minutes. If you did not create an account, ignore this message.\n",
            secret.expose()
        ),
        body_html: Some(format!(
            "<p>Your verification code is <strong>{}</strong>.</p><p>It expires in {minutes} minutes. \
             If you did not create an account, ignore this message.</p>",
            secret.expose()
        )),
        attempts: 0,
        created_at: now,
    };
    (new_code, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

pub struct Verify {
    pub email: String,
    pub channel: Channel,
    pub code: Secret,
}

/// Checks a verification code. Unknown emails, wrong codes and dead codes all answer
/// `invalid_code`, so the endpoint tells nothing about which accounts exist.
pub async fn verify(state: &AppState, client: &ClientInfo, input: Verify) -> ApiResult<Account> {
    let email = Email::parse(&input.email).map_err(|_| ApiError::InvalidCode)?;
    if !code::is_well_formed(input.code.expose()) {
        return Err(ApiError::InvalidCode);
    }
    let account = state
        .store
        .account_by_email(&email)
        .await?
        .ok_or(ApiError::InvalidCode)?;
    let purpose = match input.channel {
        Channel::Email => CodePurpose::VerifyEmail,
        Channel::Sms => CodePurpose::VerifyPhone,
    };
    let stored = state
        .store
        .latest_code(account.id, purpose)
        .await?
        .ok_or(ApiError::InvalidCode)?;
    let submitted = code::hash(&state.keys.hasher, purpose, account.id, &input.code);
    let now = state.clock.now();
    let failed = |reason: &str| {
        event(
            state,
            EventKind::VerificationFailed,
            Some(account.id),
            client,
            json!({"channel": purpose.as_str(), "reason": reason}),
        )
    };
    match code::check(&stored.stored, &submitted, now) {
        CodeCheck::Accept => {
            let kind = match purpose {
                CodePurpose::VerifyEmail => EventKind::EmailVerified,
                CodePurpose::VerifyPhone => EventKind::PhoneVerified,
            };
            let verified = event(state, kind, Some(account.id), client, json!({}));
            if !state
                .store
                .consume_verification_code(stored.id, account.id, purpose, now, verified)
                .await?
            {
                return Err(ApiError::InvalidCode);
            }
        }
        CodeCheck::Reject => {
            state
                .store
                .count_code_attempt(stored.id, failed("wrong_code"))
                .await?;
            return Err(ApiError::InvalidCode);
        }
        CodeCheck::Dead => {
            state.store.record_event(failed("dead_code")).await?;
            return Err(ApiError::InvalidCode);
        }
    }
    state
        .store
        .account_by_id(account.id)
        .await?
        .ok_or(ApiError::InvalidCode)
}

pub struct OperatorAccount {
    pub email: String,
    pub password: Secret,
    pub roles: Vec<String>,
}

/// An account created by an operator (`deadbolt admin create`): the operator vouches for the
/// address, so it starts verified and no code is sent.
pub async fn create_by_operator(state: &AppState, input: OperatorAccount) -> ApiResult<Account> {
    let email = Email::parse(&input.email)?;
    let roles = input
        .roles
        .iter()
        .map(|r| {
            Role::parse(r)
                .ok_or_else(|| ApiError::InvalidRequest(format!("{r:?} is not a role name")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    check_strength_for(&input.password, state.passwords.params(), &email)?;
    let hash = state
        .passwords
        .hash(&input.password, state.rng.as_ref())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2: {e}")))?;
    let account = Account {
        id: AccountId::generate(state.rng.as_ref()),
        email,
        email_verified: true,
        phone: None,
        phone_verified: false,
        password_hash: Some(hash),
        roles,
        created_at: state.clock.now(),
    };
    let created = event(
        state,
        EventKind::AccountCreated,
        Some(account.id),
        &ClientInfo::default(),
        json!({"via": "operator"}),
    );
    match state
        .store
        .create_account(NewAccount {
            account: account.clone(),
            codes: vec![],
            messages: vec![],
            event: created,
        })
        .await
    {
        Ok(()) => Ok(account),
        Err(StoreError::Conflict) => Err(ApiError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}
