//! The OpenID Connect use cases without HTTP: a request answered by a session, the code's
//! exchange and its single use and expiry by the clock, step-up for `max_age`, and a grant's
//! refresh tokens ending with their reuse or their session.

use crate::support::*;
use deadbolt_core::oidc_client::ClientInput;
use deadbolt_core::secret::Secret;
use deadbolt_core::stepup::Action;
use deadbolt_usecases::client::Principal;
use deadbolt_usecases::oidc::authorize::{self, AuthorizeParams, Next};
use deadbolt_usecases::oidc::exchange::{self, TokenParams};
use deadbolt_usecases::oidc::{ClientCredentials, OidcError};
use deadbolt_usecases::stepup::{self, Begin, StepUpFactor};
use deadbolt_usecases::{clients, sessions};

const CALLBACK: &str = "https://rp.example/cb";

struct Rp {
    id: String,
    secret: Secret,
}

impl Rp {
    fn credentials(&self) -> ClientCredentials {
        ClientCredentials {
            client_id: Some(self.id.clone()),
            secret: Some(self.secret.clone()),
            ..ClientCredentials::default()
        }
    }
}

async fn registered(w: &World) -> Rp {
    let input = ClientInput {
        name: "Shop".into(),
        redirect_uris: vec![CALLBACK.into()],
        first_party: true,
        ..ClientInput::default()
    };
    let made = ok(clients::create_by_operator(&w.ctx, input).await);
    Rp {
        id: made.record.client_id,
        secret: made.secret.unwrap(),
    }
}

fn params(rp: &Rp, max_age: Option<&str>) -> AuthorizeParams {
    AuthorizeParams {
        client_id: Some(rp.id.clone()),
        redirect_uri: Some(CALLBACK.into()),
        response_type: Some("code".into()),
        scope: Some("openid".into()),
        state: Some("s".into()),
        max_age: max_age.map(str::to_owned),
        ..AuthorizeParams::default()
    }
}

/// What a request comes to for `who`.
async fn answer(w: &World, rp: &Rp, who: &Principal, max_age: Option<&str>) -> Next {
    let checked = match authorize::check(&w.ctx, &client(), params(rp, max_age)).await {
        Ok(c) => c,
        Err(e) => panic!("refused: {e:?}"),
    };
    let account = w
        .ctx
        .store
        .account_by_id(who.session.account_id)
        .await
        .unwrap()
        .unwrap();
    let viewer = Some((who, &account));
    match authorize::proceed(&w.ctx, &client(), &checked.request, false, false, viewer).await {
        Ok(next) => next,
        Err(e) => panic!("{e}"),
    }
}

fn code_in(next: Next) -> String {
    let Next::Redirect(url) = next else {
        panic!("no redirect: {next:?}")
    };
    let url = url::Url::parse(&url).unwrap();
    let code = url.query_pairs().find(|(k, _)| k == "code");
    code.expect("a code").1.into_owned()
}

async fn exchange_code(
    w: &World,
    rp: &Rp,
    code: &str,
) -> Result<deadbolt_usecases::oidc::tokens::Issued, OidcError> {
    let form = TokenParams {
        grant_type: Some("authorization_code".into()),
        code: Some(code.to_owned()),
        redirect_uri: Some(CALLBACK.into()),
        ..TokenParams::default()
    };
    exchange::exchange(&w.ctx, &client(), &rp.credentials(), form).await
}

async fn refresh(
    w: &World,
    rp: &Rp,
    token: &Secret,
) -> Result<deadbolt_usecases::oidc::tokens::Issued, OidcError> {
    let form = TokenParams {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(token.expose().to_owned()),
        ..TokenParams::default()
    };
    exchange::exchange(&w.ctx, &client(), &rp.credentials(), form).await
}

/// A JWT's claims, unverified (the HTTP tests check signatures with the published keys).
fn payload(jwt: &str) -> serde_json::Value {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn invalid_grant<T>(r: Result<T, OidcError>) {
    match r {
        Err(OidcError::OAuth(e)) => assert_eq!(e.code, "invalid_grant"),
        Err(e) => panic!("expected invalid_grant: {e}"),
        Ok(_) => panic!("expected invalid_grant, it succeeded"),
    }
}

#[tokio::test]
async fn a_code_is_exchanged_once_and_not_after_sixty_seconds() {
    let w = world().await;
    let rp = registered(&w).await;
    let user = w.enrolled("a@example.com").await;
    let code = code_in(answer(&w, &rp, &user.who, None).await);
    let issued = exchange_code(&w, &rp, &code).await.ok().unwrap();
    assert!(issued.refresh_token.is_some());
    invalid_grant(exchange_code(&w, &rp, &code).await);
    // the second use revoked what the first gave
    invalid_grant(refresh(&w, &rp, issued.refresh_token.as_ref().unwrap()).await);

    let late = code_in(answer(&w, &rp, &user.who, None).await);
    w.advance(60);
    invalid_grant(exchange_code(&w, &rp, &late).await);
}

#[tokio::test]
async fn max_age_asks_for_a_step_up_whose_grant_serves_one_request() {
    let w = world().await;
    let rp = registered(&w).await;
    let user = w.enrolled("b@example.com").await;
    w.advance(120);
    assert_eq!(answer(&w, &rp, &user.who, Some("60")).await, Next::StepUp);
    let action = Action::parse(Action::OIDC_AUTHORIZE).unwrap();
    let Begin::Challenge {
        challenge_token, ..
    } = ok(stepup::begin(&w.ctx, &user.who, action, None).await)
    else {
        panic!("a challenge")
    };
    let checked_at = w.now();
    let answer_code = w.code(&user.secret);
    ok(stepup::verify(
        &w.ctx,
        &client(),
        &user.who,
        challenge_token,
        StepUpFactor::Factor(totp(&answer_code)),
    )
    .await);
    let code = code_in(answer(&w, &rp, &user.who, Some("60")).await);
    let issued = exchange_code(&w, &rp, &code).await.ok().unwrap();
    let claims = payload(issued.id_token.as_deref().unwrap());
    assert_eq!(claims["auth_time"], checked_at.unix_timestamp());
    // the grant is spent: the next request that wants a recent check asks again
    w.advance(120);
    assert_eq!(answer(&w, &rp, &user.who, Some("60")).await, Next::StepUp);
}

#[tokio::test]
async fn refresh_tokens_rotate_end_with_reuse_and_with_their_session() {
    let w = world().await;
    let rp = registered(&w).await;
    let user = w.enrolled("c@example.com").await;
    let code = code_in(answer(&w, &rp, &user.who, None).await);
    let first = exchange_code(&w, &rp, &code).await.ok().unwrap();
    let first_refresh = first.refresh_token.unwrap();
    let second = refresh(&w, &rp, &first_refresh).await.ok().unwrap();
    invalid_grant(refresh(&w, &rp, &first_refresh).await);
    invalid_grant(refresh(&w, &rp, second.refresh_token.as_ref().unwrap()).await);

    // a new grant, then the session signs out: the grant ends with it
    let code = code_in(answer(&w, &rp, &user.who, None).await);
    let third = exchange_code(&w, &rp, &code).await.ok().unwrap();
    ok(sessions::logout(&w.ctx, &client(), &user.who).await);
    invalid_grant(refresh(&w, &rp, third.refresh_token.as_ref().unwrap()).await);
}
