//! Push approval's limits on the manual clock: how long a request waits, and how long "this
//! wasn't me" pauses push requests.

use crate::support::*;
use deadbolt_core::ids::MethodId;
use deadbolt_core::push::Decision;
use deadbolt_usecases::challenge::{self, Answering, Challenged};
use deadbolt_usecases::client::Principal;
use deadbolt_usecases::push::{self, PushSent};
use deadbolt_usecases::{mfa, DomainError, DomainResult};

async fn push_world() -> World {
    world_with(|c| c.mfa.allowed_methods.push("push".into())).await
}

/// An account whose signed-in session is its push approver.
async fn approver(w: &World, email: &str) -> (Principal, MethodId) {
    w.account(email).await;
    let who = w.signed_in(email).await;
    let input = mfa::PushEnrollment {
        label: None,
        public_key: None,
        push_token: None,
    };
    let done = ok(mfa::enroll_push(&w.ctx, &client(), &who, input).await);
    assert!(
        done.recovery_codes.is_some(),
        "the first method turns MFA on"
    );
    (who, done.method.id)
}

/// A new sign-in's send step with the push method.
async fn ask(w: &World, email: &str, method: MethodId) -> DomainResult<PushSent> {
    let token = w.mfa_token(email).await;
    let pending = challenge::pending(&w.ctx, &token, Answering::SignIn).await?;
    match challenge::send(&w.ctx, &client(), &pending, method).await? {
        Challenged::Push(sent) => Ok(sent),
        _ => panic!("a push method's send step makes a push request"),
    }
}

fn retry_after(e: DomainError) -> i64 {
    match e {
        DomainError::TooManyAttempts { retry_after } => retry_after,
        other => panic!("expected too_many_attempts: {other:?}"),
    }
}

#[tokio::test]
async fn a_request_holds_the_accounts_one_place_for_two_minutes() {
    let w = push_world().await;
    let (_, method) = approver(&w, "push-ttl@example.com").await;
    let first = ok(ask(&w, "push-ttl@example.com", method).await);
    assert_eq!(first.expires_in, 120);
    assert_eq!(
        retry_after(err(ask(&w, "push-ttl@example.com", method).await)),
        120
    );
    w.advance(119);
    assert_eq!(
        retry_after(err(ask(&w, "push-ttl@example.com", method).await)),
        1
    );
    w.advance(1);
    let second = ok(ask(&w, "push-ttl@example.com", method).await);
    assert_ne!(second.approval_id, first.approval_id);
}

#[tokio::test]
async fn this_wasnt_me_pauses_push_for_exactly_the_configured_time() {
    let w = push_world().await;
    let email = "push-pause@example.com";
    let (who, method) = approver(&w, email).await;
    let sent = ok(ask(&w, email, method).await);
    let deny = push::Answer {
        decision: Decision::Deny,
        number: None,
        signature: None,
    };
    ok(push::answer(&w.ctx, &client(), &who, sent.approval_id, deny).await);
    let pause = w.ctx.config.mfa.push_pause_seconds;
    assert_eq!(pause, 900, "the default pause");
    assert_eq!(retry_after(err(ask(&w, email, method).await)), pause);
    w.advance(pause - 1);
    assert_eq!(retry_after(err(ask(&w, email, method).await)), 1);
    w.advance(1);
    ok(ask(&w, email, method).await);
    // the owner was told
    let mail = w.mail().await;
    assert!(
        mail.iter()
            .any(|m| m.subject == "A sign-in request was refused"),
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_approver_stays_the_approver_when_its_session_is_renewed() {
    let w = push_world().await;
    let email = "push-renewed@example.com";
    let (who, method) = approver(&w, email).await;
    // a step-up or a new password renews the browser's session: a new id, the old one ended
    let fresh = deadbolt_usecases::sessions::renew(&w.ctx, &who)
        .await
        .unwrap()
        .expect("renewed");
    let mut renewed = who.clone();
    renewed.session.id = fresh;
    renewed.claims.sid = fresh;
    let sent = ok(ask(&w, email, method).await);
    assert!(ok(push::pending_for(&w.ctx, &who).await).is_empty());
    let listed = ok(push::pending_for(&w.ctx, &renewed).await);
    assert_eq!(listed.len(), 1);
    let approve = push::Answer {
        decision: Decision::Approve,
        number: Some(sent.number.to_string()),
        signature: None,
    };
    ok(push::answer(&w.ctx, &client(), &renewed, sent.approval_id, approve).await);
}

#[tokio::test]
async fn an_approver_whose_session_idled_out_is_no_longer_asked() {
    let w = push_world().await;
    let email = "push-idle@example.com";
    let (_, method) = approver(&w, email).await;
    let idle = w.ctx.config.session.idle_seconds;
    w.advance(idle + 1);
    // a session past its idle limit approves nothing, though nobody revoked it
    match err(ask(&w, email, method).await) {
        DomainError::FactorNotAllowed(_) => {}
        other => panic!("expected factor_not_allowed: {other:?}"),
    }
}

#[tokio::test]
async fn this_wasnt_me_after_the_request_ran_out_still_pauses_push() {
    let w = push_world().await;
    let email = "push-late@example.com";
    let (who, method) = approver(&w, email).await;
    let sent = ok(ask(&w, email, method).await);
    // the prompt stayed open past the request's two minutes
    w.advance(121);
    let answer = |decision| push::Answer {
        decision,
        number: Some(sent.number.to_string()),
        signature: None,
    };
    // too late to approve
    assert!(matches!(
        err(push::answer(
            &w.ctx,
            &client(),
            &who,
            sent.approval_id,
            answer(Decision::Approve)
        )
        .await),
        DomainError::NotFound
    ));
    ok(push::answer(
        &w.ctx,
        &client(),
        &who,
        sent.approval_id,
        answer(Decision::Deny),
    )
    .await);
    assert_eq!(
        retry_after(err(ask(&w, email, method).await)),
        w.ctx.config.mfa.push_pause_seconds
    );
    // and it is heard once
    assert!(matches!(
        err(push::answer(
            &w.ctx,
            &client(),
            &who,
            sent.approval_id,
            answer(Decision::Deny)
        )
        .await),
        DomainError::NotFound
    ));
}
