//! Sign-up, channel verification, and accounts made by an operator.

use crate::attempts::{self, Bucket};
use crate::client::ClientInfo;
use crate::codes::{self, CodeFor, Destination, Recipient};
use crate::context::Context;
use crate::error::{DomainError, DomainResult};
use crate::events::event;
use crate::messages::Medium;
use deadbolt_core::account::{Account, Role};
use deadbolt_core::code::CodePurpose;
use deadbolt_core::email::Email;
use deadbolt_core::event::EventKind;
use deadbolt_core::ids::AccountId;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::password::check_strength_for;
use deadbolt_core::phone::Phone;
use deadbolt_core::secret::Secret;
use deadbolt_core::throttle::ThrottlePolicy;
use deadbolt_store::{NewAccount, StoreError};
use serde_json::json;

pub struct SignUp {
    pub email: String,
    pub password: Secret,
    pub phone: Option<String>,
}

/// Creates an account and sends a 6-digit code to its email.
pub async fn sign_up(ctx: &Context, client: &ClientInfo, input: SignUp) -> DomainResult<Account> {
    let email = Email::parse(&input.email)?;
    let phone = input.phone.as_deref().map(Phone::parse).transpose()?;
    check_strength_for(&input.password, ctx.passwords.params(), &email)?;
    // the hash pool first: a full pool refuses without counting a sign-up
    let slot = ctx.hash_pool.reserve()?;
    count_sign_up(ctx, client).await?;
    let password_hash = {
        let hasher = ctx.passwords.clone();
        let rng = ctx.rng.clone();
        let password = input.password;
        slot.run(move || hasher.hash(&password, rng.as_ref()))
            .await?
            .map_err(|e| DomainError::Internal(anyhow::anyhow!("argon2: {e}")))?
    };
    let now = ctx.clock.now();
    let account = Account {
        id: AccountId::generate(ctx.rng.as_ref()),
        email,
        email_verified: false,
        phone,
        phone_verified: false,
        password_hash: Some(password_hash),
        roles: Vec::new(),
        created_at: now,
        sso_provider: None,
        subject_of: None,
    };
    let verify_email = CodeFor::account(CodePurpose::VerifyEmail);
    let (email_code, email_message) =
        codes::new_code(ctx, &account, &verify_email, &Destination::email(&account))?;
    let created = event(
        ctx,
        EventKind::AccountCreated,
        Some(account.id),
        client,
        json!({"via": "sign_up"}),
    );
    let result = ctx
        .store
        .create_account(NewAccount {
            account: account.clone(),
            codes: vec![email_code],
            messages: vec![email_message],
            event: created,
        })
        .await;
    match result {
        Ok(()) => {
            // create_account commits the account with its first mail itself, not through
            // ctx.commit
            ctx.wake_outbox();
            // The phone is proven by a text, where something can send one and policy allows
            // texts, within the limits per number (anyone can sign up, so this is where SMS
            // pumping would start). Otherwise the phone stays unverified; a resend can try again
            // later.
            if let (Some(phone), true) = (&account.phone, texts_allowed(ctx)) {
                let to = Destination {
                    medium: Medium::Sms,
                    address: phone.as_str().to_owned(),
                };
                let what = CodeFor::account(CodePurpose::VerifyPhone);
                if let Err(refused) = codes::send(ctx, client, &account, &what, &to).await? {
                    tracing::info!(account_id = %account.id, reason = %refused, "sign-up: no verification text sent");
                }
            }
            Ok(account)
        }
        Err(StoreError::Conflict) => Err(DomainError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// Counts a sign-up against its client address's hourly limit: 429 `too_many_attempts` past
/// it. Every sign-up that gets as far as hashing counts, taken or not: each costs a hash and
/// may send mail.
async fn count_sign_up(ctx: &Context, client: &ClientInfo) -> DomainResult<()> {
    let Some(ip) = client.ip else {
        return Ok(());
    };
    let bucket = Bucket {
        key: format!("signup:ip:{ip}"),
        policy: ThrottlePolicy {
            max_failures: ctx.config.limits.signups_per_ip_per_hour,
            window: time::Duration::HOUR,
        },
    };
    match attempts::reserve(ctx, vec![bucket]).await? {
        Ok(counted) => {
            counted.keep();
            Ok(())
        }
        Err(full) => Err(DomainError::TooManyAttempts {
            retry_after: full.retry_after,
        }),
    }
}

/// Whether verification texts go out: a provider to send them, and a policy that allows SMS
/// (where it does not, nobody pays for texts that serve nothing here).
fn texts_allowed(ctx: &Context) -> bool {
    ctx.config.sms.can_send() && ctx.policy.get().allows_method(MethodKind::Sms.as_str())
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
pub async fn verify(ctx: &Context, client: &ClientInfo, input: Verify) -> DomainResult<Account> {
    let email = Email::parse(&input.email).map_err(|_| DomainError::InvalidCode)?;
    let Some(account) = ctx.store.account_by_email(&email).await? else {
        return Err(codes::unknown_account_try(ctx, &email).await);
    };
    let purpose = match input.channel {
        Channel::Email => CodePurpose::VerifyEmail,
        Channel::Sms => CodePurpose::VerifyPhone,
    };
    let stored = codes::check(
        ctx,
        client,
        &account,
        &CodeFor::account(purpose),
        &input.code,
    )
    .await?;
    let kind = match purpose {
        CodePurpose::VerifyPhone => EventKind::PhoneVerified,
        _ => EventKind::EmailVerified,
    };
    let verified = event(ctx, kind, Some(account.id), client, json!({}));
    let now = ctx.clock.now();
    if !ctx
        .store
        .consume_verification_code(stored.id, account.id, purpose, now, verified)
        .await?
    {
        return Err(DomainError::InvalidCode);
    }
    ctx.store
        .account_by_id(account.id)
        .await?
        .ok_or(DomainError::InvalidCode)
}

pub struct OperatorAccount {
    pub email: String,
    pub password: Secret,
    pub roles: Vec<String>,
}

/// An account created by an operator (`deadbolt admin create`): the operator vouches for the
/// address, so it starts verified and no code is sent.
pub async fn create_by_operator(ctx: &Context, input: OperatorAccount) -> DomainResult<Account> {
    create_vouched(
        ctx,
        &ClientInfo::default(),
        VouchedAccount {
            email: input.email,
            password: Some(input.password),
            phone: None,
            email_verified: true,
            phone_verified: false,
            roles: input.roles,
            sso_provider: None,
        },
        "operator",
        None,
    )
    .await
}

fn input_roles(account: &Account) -> Vec<&str> {
    account.roles.iter().map(Role::as_str).collect()
}

/// An account made by someone who vouches for it (an operator or an administrator): they say
/// which channels are verified, and no code is sent.
pub struct VouchedAccount {
    pub email: String,
    pub password: Option<Secret>,
    pub phone: Option<String>,
    pub email_verified: bool,
    pub phone_verified: bool,
    pub roles: Vec<String>,
    /// The identity provider of an account that signs in elsewhere (then no password).
    pub sso_provider: Option<String>,
}

pub async fn create_vouched(
    ctx: &Context,
    client: &ClientInfo,
    input: VouchedAccount,
    via: &'static str,
    by: Option<AccountId>,
) -> DomainResult<Account> {
    let email = Email::parse(&input.email)?;
    let phone = input.phone.as_deref().map(Phone::parse).transpose()?;
    let roles = input
        .roles
        .iter()
        .map(|r| {
            Role::parse(r)
                .ok_or_else(|| DomainError::InvalidRequest(format!("{r:?} is not a role name")))
        })
        .collect::<DomainResult<Vec<_>>>()?;
    if let Some(provider) = &input.sso_provider {
        deadbolt_core::account::check_sso_provider(provider)?;
        if input.password.is_some() {
            return Err(DomainError::InvalidRequest(
                "an account of an identity provider has no password here".into(),
            ));
        }
    }
    let password_hash = match input.password {
        Some(password) => {
            check_strength_for(&password, ctx.passwords.params(), &email)?;
            let hasher = ctx.passwords.clone();
            let rng = ctx.rng.clone();
            Some(
                ctx.hash_pool
                    .run(move || hasher.hash(&password, rng.as_ref()))
                    .await?
                    .map_err(|e| DomainError::Internal(anyhow::anyhow!("argon2: {e}")))?,
            )
        }
        None => None,
    };
    let account = Account {
        id: AccountId::generate(ctx.rng.as_ref()),
        email,
        email_verified: input.email_verified,
        phone_verified: input.phone_verified && phone.is_some(),
        phone,
        password_hash,
        roles,
        created_at: ctx.clock.now(),
        sso_provider: input.sso_provider,
        subject_of: None,
    };
    let created = event(
        ctx,
        EventKind::AccountCreated,
        Some(account.id),
        client,
        json!({"via": via, "by": by, "roles": input_roles(&account)}),
    );
    match ctx
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
        Err(StoreError::Conflict) => Err(DomainError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

pub struct Resend {
    pub email: String,
    pub channel: Channel,
}

/// Sends a new verification code. The answer is the same whether or not the account exists, is
/// already verified, or is over its resend limits, and so is the work done for it (see
/// `codes::send_or_stand_in`): none of that is the caller's business.
pub async fn resend(ctx: &Context, client: &ClientInfo, input: Resend) -> DomainResult<()> {
    codes::answered_after_floor(resend_now(ctx, client, input)).await
}

async fn resend_now(ctx: &Context, client: &ClientInfo, input: Resend) -> DomainResult<()> {
    let Ok(email) = Email::parse(&input.email) else {
        return Ok(());
    };
    let account = ctx.store.account_by_email(&email).await?;
    let due = account
        .as_ref()
        .and_then(|account| match (input.channel, &account.phone) {
            (Channel::Email, _) if !account.email_verified => {
                Some((CodePurpose::VerifyEmail, Destination::email(account)))
            }
            (Channel::Sms, Some(phone)) if !account.phone_verified && texts_allowed(ctx) => Some((
                CodePurpose::VerifyPhone,
                Destination {
                    medium: Medium::Sms,
                    address: phone.as_str().to_owned(),
                },
            )),
            _ => None,
        });
    let (to, purpose) = match (&account, due) {
        (Some(account), Some((purpose, to))) => (Recipient::Account(account, to), purpose),
        _ => (Recipient::Nobody(&email), CodePurpose::VerifyEmail),
    };
    codes::send_or_stand_in(ctx, client, to, &CodeFor::account(purpose), |_| vec![]).await?;
    Ok(())
}
