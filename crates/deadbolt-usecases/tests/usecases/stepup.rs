//! Step-up: a challenge for an action, and the grant a satisfied one leaves for the action's
//! window (fixed, sliding, or one use), as policy says.

use crate::support::*;
use deadbolt_core::policy::ActionRule;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::{Action, ONE_SHOT_TTL};
use deadbolt_store::BatchOutcome;
use deadbolt_usecases::client::Principal;
use deadbolt_usecases::stepup::{self, Begin, Satisfied, StepUpFactor};
use deadbolt_usecases::DomainError;
use time::{Duration, OffsetDateTime};

fn window(seconds: i64) -> ActionRule {
    ActionRule {
        window_seconds: Some(seconds),
        sliding: false,
        methods: None,
    }
}

/// What a second `begin` found: the grant's end when one still serves, None when it challenged.
async fn begin_again(w: &World, who: &Principal, action: &str) -> Option<OffsetDateTime> {
    let action = Action::parse(action).unwrap();
    match ok(stepup::begin(&w.ctx, who, action.clone(), None).await) {
        Begin::Satisfied {
            action: served,
            expires_at,
            ..
        } => {
            assert_eq!(served, action);
            Some(expires_at)
        }
        Begin::Challenge { .. } => None,
    }
}

/// Opens a step-up for `action` and answers it with the current TOTP code.
async fn step_up(w: &World, user: &Enrolled, action: &str) -> Satisfied {
    let action = Action::parse(action).unwrap();
    let Begin::Challenge {
        challenge_token,
        methods,
        password,
    } = ok(stepup::begin(&w.ctx, &user.who, action, None).await)
    else {
        panic!("expected a challenge");
    };
    assert!(!password, "an account with MFA steps up with it");
    assert!(methods.iter().any(|m| m.id == user.method_id));
    let answer = StepUpFactor::Factor(totp(&w.code(&user.secret)));
    ok(stepup::verify(&w.ctx, &client(), &user.who, challenge_token, answer).await)
}

#[tokio::test]
async fn a_satisfied_step_up_serves_its_window_then_challenges_again() {
    let w = world_with(|c| {
        c.step_up.insert("billing.refund".into(), window(600));
    })
    .await;
    let user = w.enrolled("refund@example.com").await;
    assert_eq!(begin_again(&w, &user.who, "billing.refund").await, None);
    let checked = w.now();
    let done = step_up(&w, &user, "billing.refund").await;
    assert_eq!(done.expires_at, checked + Duration::seconds(600));
    assert!(!done.step_up_token.is_empty());
    // asking again within the window is answered at once; a fixed window does not move
    w.advance(599);
    assert_eq!(
        begin_again(&w, &user.who, "billing.refund").await,
        Some(done.expires_at)
    );
    // not for another action
    assert_eq!(begin_again(&w, &user.who, "reports.export").await, None);
    w.advance(1);
    assert_eq!(begin_again(&w, &user.who, "billing.refund").await, None);
}

#[tokio::test]
async fn a_sliding_window_moves_forward_with_each_use() {
    // team.manage: 300 s, sliding, built in
    let w = world().await;
    let user = w.enrolled("team@example.com").await;
    let checked = w.now();
    let done = step_up(&w, &user, "team.manage").await;
    assert_eq!(done.expires_at, checked + Duration::seconds(300));
    w.advance(200);
    let slid = begin_again(&w, &user.who, "team.manage").await;
    assert_eq!(slid, Some(checked + Duration::seconds(500)));
    // past the first window's end, still served: the use moved it
    w.advance(250);
    let slid = begin_again(&w, &user.who, "team.manage").await;
    assert_eq!(slid, Some(checked + Duration::seconds(750)));
    w.advance(300);
    assert_eq!(begin_again(&w, &user.who, "team.manage").await, None);
}

#[tokio::test]
async fn by_default_a_grant_serves_one_use() {
    let w = world().await;
    let user = w.enrolled("once@example.com").await;
    let checked = w.now();
    let done = step_up(&w, &user, "billing.refund").await;
    assert_eq!(done.expires_at, checked + ONE_SHOT_TTL);
    // asking does not spend it
    assert!(begin_again(&w, &user.who, "billing.refund").await.is_some());
    let grant = ok(stepup::require(&w.ctx, &user.who, "billing.refund").await);
    assert_eq!(
        ok(stepup::commit_with(&w.ctx, Some(grant), vec![]).await),
        BatchOutcome::Committed
    );
    // the use did
    let e = err(stepup::require(&w.ctx, &user.who, "billing.refund").await);
    assert!(
        matches!(&e, DomainError::StepUpRequired { action, target: None } if action == "billing.refund"),
        "{e:?}"
    );
    assert_eq!(begin_again(&w, &user.who, "billing.refund").await, None);
}

#[tokio::test]
async fn a_default_window_serves_actions_without_their_own_but_never_password_change() {
    let w = world_with(|c| {
        c.step_up.insert("default".into(), window(120));
    })
    .await;
    let user = w.enrolled("default@example.com").await;
    let checked = w.now();
    let done = step_up(&w, &user, "reports.export").await;
    assert_eq!(done.expires_at, checked + Duration::seconds(120));
    // a windowed grant is not spent by a use
    let grant = ok(stepup::require(&w.ctx, &user.who, "reports.export").await);
    ok(stepup::commit_with(&w.ctx, Some(grant), vec![]).await);
    assert!(begin_again(&w, &user.who, "reports.export").await.is_some());

    // password.change is challenged every time, whatever the default says
    w.advance(30);
    let checked = w.now();
    let done = step_up(&w, &user, "password.change").await;
    assert_eq!(done.expires_at, checked + ONE_SHOT_TTL);
    let grant = ok(stepup::require(&w.ctx, &user.who, "password.change").await);
    ok(stepup::commit_with(&w.ctx, Some(grant), vec![]).await);
    assert_eq!(begin_again(&w, &user.who, "password.change").await, None);

    // and the default's window ends
    w.advance(90);
    assert_eq!(begin_again(&w, &user.who, "reports.export").await, None);
}

#[tokio::test]
async fn without_a_second_factor_the_step_up_is_the_password() {
    let w = world().await;
    w.account("plain@example.com").await;
    let who = w.signed_in("plain@example.com").await;
    let Begin::Challenge {
        challenge_token,
        methods,
        password,
    } = ok(stepup::begin(&w.ctx, &who, Action::parse("billing.refund").unwrap(), None).await)
    else {
        panic!("expected a challenge");
    };
    assert!(password && methods.is_empty());
    let max = w.ctx.policy.get().lockout.token_max_failures;
    let answer = |p: &str| StepUpFactor::Password(Secret::new(p));
    let e = err(stepup::verify(
        &w.ctx,
        &client(),
        &who,
        challenge_token.clone(),
        answer("not the password"),
    )
    .await);
    assert!(
        matches!(e, DomainError::WrongSecondFactor { attempts_remaining } if attempts_remaining == max - 1),
        "{e:?}"
    );
    let done = ok(stepup::verify(&w.ctx, &client(), &who, challenge_token, answer(PASSWORD)).await);
    assert_eq!(done.action.as_str(), "billing.refund");
}
