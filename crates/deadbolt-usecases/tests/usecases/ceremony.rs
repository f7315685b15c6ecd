//! The second-factor challenge ceremony: what each answer does to a challenge, how long one
//! lives, and which caller may answer which.

use crate::support::*;
use deadbolt_core::stepup::Action;
use deadbolt_usecases::challenge::{self, Answering, Purpose};
use deadbolt_usecases::stepup::{self, Begin, StepUpFactor};
use deadbolt_usecases::{sessions, DomainError};

#[tokio::test]
async fn a_wrong_code_counts_down_the_attempts_left() {
    let w = world().await;
    let user = w.enrolled("countdown@example.com").await;
    let token = w.mfa_token("countdown@example.com").await;
    let max = w.ctx.policy.get().lockout.token_max_failures;
    assert_eq!(max, 5, "the default limit");
    for tried in 1..=max {
        let e = err(w.verify_totp(&token, &w.wrong_code(&user.secret)).await);
        assert!(
            matches!(e, DomainError::WrongSecondFactor { attempts_remaining } if attempts_remaining == max - tried),
            "after {tried} wrong codes: {e:?}"
        );
    }
    // each failure is counted on the stored challenge itself
    let hash = w.ctx.keys.hasher().hash_token(&token);
    let stored = w.ctx.store.challenge(&hash.0).await.unwrap().unwrap();
    assert_eq!(stored.failures, max);
    assert!(!challenge::is_live(&w.ctx, &stored));
}

#[tokio::test]
async fn a_challenge_past_its_failure_limit_refuses_even_the_right_code() {
    let w = world().await;
    let user = w.enrolled("used-up@example.com").await;
    let token = w.mfa_token("used-up@example.com").await;
    for _ in 0..w.ctx.policy.get().lockout.token_max_failures {
        let e = err(w.verify_totp(&token, &w.wrong_code(&user.secret)).await);
        assert!(matches!(e, DomainError::WrongSecondFactor { .. }), "{e:?}");
    }
    let e = err(w.verify_totp(&token, &w.code(&user.secret)).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    let e = err(challenge::pending(&w.ctx, &token, Answering::SignIn).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    // the code was right: a fresh challenge takes it (the account is not locked by five)
    let fresh = w.mfa_token("used-up@example.com").await;
    ok(w.verify_totp(&fresh, &w.code(&user.secret)).await);
}

#[tokio::test]
async fn a_right_code_signs_in_once_and_its_token_is_spent() {
    let w = world().await;
    let user = w.enrolled("once@example.com").await;
    let token = w.mfa_token("once@example.com").await;
    let signed_in = ok(w.verify_totp(&token, &w.code(&user.secret)).await);
    let who = ok(sessions::authenticate(&w.ctx, &signed_in.tokens.access_token).await);
    assert_eq!(who.session.account_id, user.account.id);
    assert!(
        who.session.amr.iter().any(|m| m == "otp"),
        "{:?}",
        who.session.amr
    );
    assert_eq!(who.session.acr, "aal2", "two factors");
    // the token is spent: not even the next step's fresh code revives it
    w.advance(30);
    let e = err(w.verify_totp(&token, &w.code(&user.secret)).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    let hash = w.ctx.keys.hasher().hash_token(&token);
    let stored = w.ctx.store.challenge(&hash.0).await.unwrap().unwrap();
    assert!(stored.consumed_at.is_some());
    assert_eq!(
        stored.failures, 0,
        "a refused spent token counts no failure"
    );
}

#[tokio::test]
async fn a_challenge_expires_after_its_time_to_live() {
    let w = world().await;
    let user = w.enrolled("ttl@example.com").await;
    let ttl = w.ctx.policy.get().lockout.token_ttl_seconds;
    let token = w.mfa_token("ttl@example.com").await;
    let late = w.mfa_token("ttl@example.com").await;
    w.advance(ttl - 1);
    // a second before its end it still takes the right code
    ok(w.verify_totp(&token, &w.code(&user.secret)).await);
    w.advance(1);
    let e = err(challenge::pending(&w.ctx, &late, Answering::SignIn).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    w.advance(30); // a step the first sign-in did not spend
    let e = err(w.verify_totp(&late, &w.code(&user.secret)).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
}

#[tokio::test]
async fn a_totp_step_is_accepted_once_and_a_replay_is_refused_and_told() {
    let w = world().await;
    let user = w.enrolled("replay@example.com").await;
    let code = w.code(&user.secret);
    ok(
        w.verify_totp(&w.mfa_token("replay@example.com").await, &code)
            .await,
    );
    w.mail().await; // what enrolment and the sign-in sent
                    // the same code, in the same step, for another sign-in
    let token = w.mfa_token("replay@example.com").await;
    let max = w.ctx.policy.get().lockout.token_max_failures;
    let e = err(w.verify_totp(&token, &code).await);
    assert!(
        matches!(e, DomainError::WrongSecondFactor { attempts_remaining } if attempts_remaining == max - 1),
        "{e:?}"
    );
    // a replay is a seen code, not a guess: it does not count against the authenticator
    let methods = w.ctx.store.methods_of(user.account.id).await.unwrap();
    let method = methods.iter().find(|m| m.id == user.method_id).unwrap();
    assert_eq!(method.consecutive_failures, 0);
    let subjects: Vec<String> = w.mail().await.into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, ["A used sign-in code was tried again"]);
    // the next step's code is a new one
    w.advance(30);
    ok(w.verify_totp(&token, &w.code(&user.secret)).await);
}

#[tokio::test]
async fn sign_in_and_reset_tokens_answer_only_their_own_ceremony() {
    let w = world().await;
    let user = w.enrolled("purposes@example.com").await;
    let mfa_token = w.mfa_token("purposes@example.com").await;
    let (reset_token, reset) = challenge::open(&w.ctx, &user.account, Purpose::Reset, None);
    w.ctx.commit(vec![reset.insert()]).await.unwrap();
    let session = user.who.session.id;
    for (token, wrong) in [
        (&mfa_token, Answering::Reset),
        (&mfa_token, Answering::StepUp(session)),
        (&reset_token, Answering::SignIn),
        (&reset_token, Answering::StepUp(session)),
    ] {
        let e = err(challenge::pending(&w.ctx, token, wrong).await);
        assert!(
            matches!(e, DomainError::MfaTokenInvalid),
            "{wrong:?}: {e:?}"
        );
    }
    // a reset token presented as a sign-in's is not one, even with the right code
    let e = err(w.verify_totp(&reset_token, &w.code(&user.secret)).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    // each is what it was opened for, and none was spent by the wrong tries
    let p = ok(challenge::pending(&w.ctx, &mfa_token, Answering::SignIn).await);
    assert_eq!(*p.purpose(), Purpose::Login);
    let p = ok(challenge::pending(&w.ctx, &reset_token, Answering::Reset).await);
    assert_eq!(*p.purpose(), Purpose::Reset);
    assert_eq!(p.account().id, user.account.id);
}

#[tokio::test]
async fn a_step_up_token_answers_only_the_session_that_opened_it() {
    let w = world().await;
    let user = w.enrolled("sessions@example.com").await;
    // a second session of the same account
    let token = w.mfa_token("sessions@example.com").await;
    let other = ok(w.verify_totp(&token, &w.code(&user.secret)).await);
    let other = ok(sessions::authenticate(&w.ctx, &other.tokens.access_token).await);
    assert_ne!(other.session.id, user.who.session.id);
    w.advance(30);

    let action = Action::parse("billing.refund").unwrap();
    let Begin::Challenge {
        challenge_token, ..
    } = ok(stepup::begin(&w.ctx, &user.who, action, None).await)
    else {
        panic!("a one-shot action is challenged");
    };
    for wrong in [
        Answering::StepUp(other.session.id),
        Answering::SignIn,
        Answering::Reset,
    ] {
        let e = err(challenge::pending(&w.ctx, &challenge_token, wrong).await);
        assert!(
            matches!(e, DomainError::MfaTokenInvalid),
            "{wrong:?}: {e:?}"
        );
    }
    // the other session cannot spend it with the right code
    let answer = || StepUpFactor::Factor(totp(&w.code(&user.secret)));
    let e = err(stepup::verify(&w.ctx, &client(), &other, challenge_token.clone(), answer()).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    // its own session can
    let done = ok(stepup::verify(&w.ctx, &client(), &user.who, challenge_token, answer()).await);
    assert_eq!(done.action.as_str(), "billing.refund");
}

#[tokio::test]
async fn a_purpose_is_read_back_as_it_was_opened() {
    let w = world().await;
    let user = w.enrolled("stored@example.com").await;
    let step_up = Purpose::StepUp(Action::parse("reports.export").unwrap());
    for (purpose, prefix) in [
        (Purpose::Login, "mfa_"),
        (Purpose::EmailCheck, "mfa_"),
        (step_up, "suc_"),
        (Purpose::Reset, "suc_"),
        (Purpose::ForClient(None), "sbc_"),
        (
            Purpose::ForClient(Some(Action::parse("payments.send").unwrap())),
            "sbc_",
        ),
    ] {
        let session = matches!(purpose, Purpose::StepUp(_)).then_some(user.who.session.id);
        let (token, record) = challenge::open(&w.ctx, &user.account, purpose.clone(), session);
        assert!(token.expose().starts_with(prefix), "{purpose:?}");
        assert_eq!(Purpose::of(&record), Some(purpose.clone()));
        w.ctx.commit(vec![record.insert()]).await.unwrap();
        let hash = w.ctx.keys.hasher().hash_token(&token);
        let (stored, account) = w
            .ctx
            .store
            .challenge_with_account(&hash.0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Purpose::of(&stored), Some(purpose.clone()), "{purpose:?}");
        assert_eq!(stored.session_id, session);
        assert_eq!(account.id, user.account.id);
    }
    // what this version does not know is no purpose at all
    let (_, mut record) = challenge::open(&w.ctx, &user.account, Purpose::Login, None);
    record.purpose = "something_new".into();
    assert_eq!(Purpose::of(&record), None);
    record.purpose = "step_up".into();
    record.action = None;
    assert_eq!(Purpose::of(&record), None, "a step-up names its action");
    record.action = Some("Not An Action".into());
    assert_eq!(Purpose::of(&record), None);
    record.purpose = "client".into();
    assert_eq!(
        Purpose::of(&record),
        None,
        "nor a client's with a bad action"
    );
    record.action = None;
    assert_eq!(Purpose::of(&record), Some(Purpose::ForClient(None)));
}

#[tokio::test]
async fn a_clients_check_answers_only_that_client_for_that_subject() {
    let w = world().await;
    let user = w.enrolled("client-check@example.com").await;
    let other = w.enrolled("someone-else@example.com").await;
    let (token, record) = challenge::open(&w.ctx, &user.account, Purpose::ForClient(None), None);
    w.ctx.commit(vec![record.insert()]).await.unwrap();
    // no sign-in, step-up or reset takes it: it is no token of theirs
    for wrong in [
        Answering::SignIn,
        Answering::StepUp(user.who.session.id),
        Answering::Reset,
    ] {
        let e = err(challenge::pending(&w.ctx, &token, wrong).await);
        assert!(
            matches!(e, DomainError::MfaTokenInvalid),
            "{wrong:?}: {e:?}"
        );
    }
    let e = err(w.verify_totp(&token, &w.code(&user.secret)).await);
    assert!(matches!(e, DomainError::MfaTokenInvalid), "{e:?}");
    // another subject's, a sign-in's or an unknown id is not found, alike
    let e = err(challenge::pending(&w.ctx, &token, Answering::Client(other.account.id)).await);
    assert!(matches!(e, DomainError::NotFound), "{e:?}");
    let mfa_token = w.mfa_token("client-check@example.com").await;
    let e = err(challenge::pending(&w.ctx, &mfa_token, Answering::Client(user.account.id)).await);
    assert!(matches!(e, DomainError::NotFound), "{e:?}");
    let unknown = deadbolt_core::secret::Secret::new("sbc_unknown");
    let e = err(challenge::pending(&w.ctx, &unknown, Answering::Client(user.account.id)).await);
    assert!(matches!(e, DomainError::NotFound), "{e:?}");
    // its own subject's: pending, as it was opened
    let p = ok(challenge::pending(&w.ctx, &token, Answering::Client(user.account.id)).await);
    assert_eq!(*p.purpose(), Purpose::ForClient(None));
    // a client's check follows a sign-in's rules: the same methods are offered
    let offered = ok(challenge::choices(&w.ctx, &p).await);
    let login = Purpose::Login.choices(
        &w.ctx,
        &user.account,
        w.ctx.store.methods_of(user.account.id).await.unwrap(),
    );
    let ids = |m: &[deadbolt_store::MethodRecord]| m.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&offered), ids(&login));
}
