//! Locks and windows: second-factor failures per account, password failures per email and per
//! client address, and the wait between two codes.

use crate::support::*;
use deadbolt_core::mfa::MethodKind;
use deadbolt_core::risk::RiskResponse;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::challenge::{self, Answering, Challenged};
use deadbolt_usecases::client::ClientInfo;
use deadbolt_usecases::factors::FactorInput;
use deadbolt_usecases::login::LoginOutcome;
use deadbolt_usecases::mfa_login::{self, MfaVerify};
use deadbolt_usecases::DomainError;

const LOCKED_SUBJECT: &str = "Second-factor checks are locked";

#[tokio::test]
async fn wrong_second_factors_across_challenges_lock_the_account_until_the_window_ends() {
    let w = world().await;
    let email = "locked@example.com";
    let user = w.enrolled(email).await;
    let limits = w.ctx.policy.get().lockout;
    let (per_token, per_account) = (limits.token_max_failures, limits.account_max_failures);
    assert!(
        per_account > per_token,
        "the lock needs more than one challenge"
    );
    w.mail().await;

    // the first failure now, the rest a minute later, over as many challenges as they take
    let mut token = w.mfa_token(email).await;
    for failed in 0..per_account {
        if failed > 0 && failed % per_token == 0 {
            token = w.mfa_token(email).await;
        }
        let e = err(w.verify_totp(&token, &w.wrong_code(&user.secret)).await);
        assert!(
            matches!(e, DomainError::WrongSecondFactor { .. }),
            "failure {}: {e:?}",
            failed + 1
        );
        if failed == 0 {
            w.advance(60);
        }
    }
    let window = limits.account_window_seconds;
    // locked: a fresh challenge refuses the right code until the first failure leaves the window
    let e = err(w
        .verify_totp(&w.mfa_token(email).await, &w.code(&user.secret))
        .await);
    assert!(
        matches!(e, DomainError::MfaLocked { retry_after } if retry_after == window - 60),
        "{e:?}"
    );
    let told: Vec<String> = w.mail().await.into_iter().map(|m| m.subject).collect();
    assert_eq!(told, [LOCKED_SUBJECT], "the owner is told once");
    w.advance(window - 60 - 1);
    let e = err(w
        .verify_totp(&w.mfa_token(email).await, &w.code(&user.secret))
        .await);
    assert!(
        matches!(e, DomainError::MfaLocked { retry_after: 1 }),
        "{e:?}"
    );
    w.advance(1);
    ok(
        w.verify_totp(&w.mfa_token(email).await, &w.code(&user.secret))
            .await,
    );
}

/// A per-email login limit small enough to reach (and a burst threshold below it, as policy
/// requires); the per-address limit stays out of the way.
fn small_login_limits(c: &mut deadbolt_config::Config) {
    c.limits.login_failures_per_account = 3;
    c.limits.login_window_seconds = 600;
    c.risk.burst_failures = 2;
}

fn throttled(e: &DomainError) -> Option<i64> {
    match e {
        DomainError::TooManyAttempts { retry_after } => Some(*retry_after),
        _ => None,
    }
}

#[tokio::test]
async fn wrong_passwords_close_an_email_known_or_not_until_the_window_reopens() {
    let w = world_with(small_login_limits).await;
    w.account("victim@example.com").await;
    w.account("bystander@example.com").await;
    for email in ["victim@example.com", "ghost@example.com"] {
        for _ in 0..3 {
            let e = err(w.login(email, "wrong wrong wrong").await);
            assert!(matches!(e, DomainError::InvalidCredentials), "{e:?}");
        }
        // closed, even for the right password, and alike for an address with no account
        let e = err(w.login(email, PASSWORD).await);
        assert_eq!(throttled(&e), Some(600), "{email}: {e:?}");
    }
    // the limit is the email's, not the client's
    w.signed_in("bystander@example.com").await;
    w.advance(599);
    let e = err(w.login("victim@example.com", PASSWORD).await);
    assert_eq!(throttled(&e), Some(1), "{e:?}");
    w.advance(1);
    w.signed_in("victim@example.com").await;
}

#[tokio::test]
async fn wrong_passwords_from_one_address_close_it_for_every_email() {
    let w = world_with(|c| {
        small_login_limits(c);
        c.limits.login_failures_per_ip = 4;
    })
    .await;
    w.account("sprayed@example.com").await;
    let sprayer = client_at("198.51.100.9");
    for i in 0..4 {
        let e = err(w
            .login_from(&sprayer, &format!("spray{i}@example.com"), "a common guess")
            .await);
        assert!(matches!(e, DomainError::InvalidCredentials), "{e:?}");
    }
    let e = err(w
        .login_from(&sprayer, "sprayed@example.com", PASSWORD)
        .await);
    assert!(throttled(&e).is_some(), "{e:?}");
    // another address is not held back
    let LoginOutcome::SignedIn(_) = ok(w.login("sprayed@example.com", PASSWORD).await) else {
        panic!("no second factor here");
    };
}

#[tokio::test]
async fn only_a_completed_sign_in_starts_the_password_count_afresh() {
    let w = world_with(small_login_limits).await;
    // a right password alone gives its own try back but forgets nothing before it
    let half = w.enrolled("half@example.com").await;
    for _ in 0..2 {
        err(w.login("half@example.com", "nope nope nope").await);
    }
    let _unanswered = w.mfa_token("half@example.com").await;
    err(w.login("half@example.com", "nope nope nope").await);
    let e = err(w.login("half@example.com", PASSWORD).await);
    assert!(throttled(&e).is_some(), "{e:?}");
    drop(half);

    // the second factor that completes the sign-in does
    let whole = w.enrolled("whole@example.com").await;
    for _ in 0..2 {
        err(w.login("whole@example.com", "nope nope nope").await);
    }
    let token = w.mfa_token("whole@example.com").await;
    ok(w.verify_totp(&token, &w.code(&whole.secret)).await);
    for _ in 0..2 {
        err(w.login("whole@example.com", "nope nope nope").await);
    }
    w.mfa_token("whole@example.com").await;
}

#[tokio::test]
async fn a_code_asked_for_again_too_soon_waits_until_resend_after() {
    // a sign-in from a device the account has not used asks for a code sent to its email
    let w = world_with(|c| c.risk.new_device = RiskResponse::EmailCode).await;
    let email = "resend@example.com";
    w.account(email).await;
    w.signed_in(email).await;
    let elsewhere = ClientInfo {
        user_agent: Some("another browser".into()),
        ..client()
    };
    let LoginOutcome::MfaRequired {
        mfa_token, methods, ..
    } = ok(w.login_from(&elsewhere, email, PASSWORD).await)
    else {
        panic!("a new device must be asked for the emailed code");
    };
    let method = methods[0].id;
    assert_eq!(methods[0].kind, MethodKind::Email);
    let resend_after = w.ctx.config.codes.resend_after_seconds;
    let send =
        || challenge::send_for_token(&w.ctx, &elsewhere, &mfa_token, Answering::SignIn, method);

    let Challenged::Sent(sent) = ok(send().await) else {
        panic!("an email method gets a code");
    };
    assert_eq!(sent.resend_after, resend_after);
    let e = err(send().await);
    assert!(
        matches!(e, DomainError::ResendTooSoon { retry_after } if retry_after == resend_after),
        "{e:?}"
    );
    w.advance(resend_after - 15);
    let e = err(send().await);
    assert!(
        matches!(e, DomainError::ResendTooSoon { retry_after: 15 }),
        "{e:?}"
    );
    w.advance(15);
    let Challenged::Sent(_) = ok(send().await) else {
        panic!("a code again once the wait is over");
    };
    // two codes went out, and the latest one signs in
    let codes: Vec<String> = w
        .mail()
        .await
        .into_iter()
        .filter(|m| m.recipient == email)
        .flat_map(|m| six_digit_numbers(&m.body_text))
        .collect();
    assert_eq!(codes.len(), 2, "{codes:?}");
    ok(mfa_login::verify(
        &w.ctx,
        &elsewhere,
        MfaVerify {
            mfa_token,
            answering: Answering::SignIn,
            factor: FactorInput::SentCode {
                kind: MethodKind::Email,
                method_id: Some(method),
                code: Secret::new(codes[1].clone()),
            },
            trust_device: false,
        },
    )
    .await);
}
