//! Answering a checked request for the browser's session: what it still needs (a sign-in, a
//! step-up, consent, a second factor to set up), or the code.

use super::{error_url, response_url, serves, Next};
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::DomainError;
use crate::events::event;
use crate::oidc::error::OidcResult;
use deadbolt_core::account::Account;
use deadbolt_core::auth::{self, AuthMethod};
use deadbolt_core::event::EventKind;
use deadbolt_core::oidc::{self, Authentication, Demand, Level, Needed};
use deadbolt_core::stepup::Action;
use deadbolt_core::token;
use deadbolt_store::{AuthorizationCodeRecord, AuthorizationRecord, BatchOutcome, ClientRecord};
use serde_json::json;

/// Answers a request for the browser's `viewer` and its account (None: nobody signed in; a
/// viewer the request is not for counts as nobody, see [`serves`]). `stored` says
/// whether the request waits in the store (it is then ended with the answer). `silent` is
/// `prompt=none`: where a page would be needed, the client is told so instead.
pub async fn proceed(
    ctx: &Context,
    info: &ClientInfo,
    request: &AuthorizationRecord,
    stored: bool,
    silent: bool,
    viewer: Option<(&Principal, &Account)>,
) -> OidcResult<Next> {
    let refuse = |code: &str, why: &str| Ok(Next::Redirect(error_url(ctx, request, code, why)));
    let Some(client) = ctx.store.client(&request.client_id).await? else {
        // deleted while the person was signing in: nothing may be sent to it any more
        return Err(DomainError::NotFound.into());
    };
    let Some((who, account)) = viewer.filter(|(who, account)| serves(request, who, account)) else {
        return if silent {
            refuse("login_required", "nobody is signed in")
        } else if request.subject.is_some() {
            Ok(Next::SubjectSignIn)
        } else {
            Ok(Next::SignIn)
        };
    };
    // a silent request of a client the person has not allowed learns nothing more of the
    // session (its level, its enrolment, its age) than that consent is missing
    if silent && needs_consent(ctx, &client, who, request).await? {
        return refuse("consent_required", "the person has not allowed this client");
    }
    // A subject that has just set up its first factor, in the session its sign-in for this
    // request made, proved it by the confirmation: that is this sign-in's second factor. (An
    // account of ours signs out and in again instead: its session was its password's alone,
    // and it may have been begun anywhere.)
    let enrolled_now = match request.subject {
        Some(_) if who.session.enrollment_only && !silent => confirmed_in_session(ctx, who).await?,
        _ => None,
    };
    if who.session.enrollment_only && enrolled_now.is_none() {
        return if silent {
            refuse(
                "interaction_required",
                "a second factor must be set up first",
            )
        } else {
            Ok(Next::Enrol)
        };
    }
    let now = ctx.clock.now();
    let demand = Demand {
        fresh_sign_in: request.prompt.split_whitespace().any(|p| p == "login"),
        max_age: request.max_age,
        level: Level::parse(&request.acr).unwrap_or(Level::Aal1),
        requested_at: request.created_at,
    };
    let mut auth = enrolled_now.unwrap_or_else(|| Authentication {
        auth_time: who.session.auth_time,
        amr: who.session.amr.clone(),
        level: Level::parse(&who.session.acr).unwrap_or(Level::Aal1),
    });
    let mut grant_use = None;
    match oidc::needed(&demand, &auth, now) {
        Needed::Nothing => {}
        Needed::SignIn if silent => return refuse("login_required", "a new sign-in is needed"),
        Needed::SignIn if request.subject.is_some() => return Ok(Next::SubjectSignIn),
        Needed::SignIn => return Ok(Next::SignIn),
        Needed::StepUp => {
            // a step-up passed on this session adds its check to the session's own
            let Some(grant) = ctx
                .store
                .open_grant(who.session.id, Action::OIDC_AUTHORIZE, None, now)
                .await?
            else {
                return if silent {
                    refuse("interaction_required", "a fresh authentication is needed")
                } else if auth.level < demand.level && !has_second_factor(ctx, who).await? {
                    // nothing to step up with: set one up first (the wizard comes back here),
                    // unless the account signs in elsewhere and keeps its factors there
                    match account.sso_provider.is_some() {
                        true => refuse(
                            "unmet_authentication_requirements",
                            "this account signs in through its identity provider",
                        ),
                        false => Ok(Next::Enrol),
                    }
                } else {
                    Ok(Next::StepUp)
                };
            };
            auth = oidc::after_step_up(&auth, grant.auth_time, &grant.amr);
            let spend = grant.use_write(now, None);
            if oidc::needed(&demand, &auth, now) == Needed::Nothing {
                grant_use = Some(spend);
            } else if auth.level < demand.level {
                // checked with all the account has, and still short: an account without a
                // second factor asked for one
                return refuse(
                    "unmet_authentication_requirements",
                    "this account has no second factor to reach the assurance level asked for",
                );
            } else {
                // a grant older than max_age allows: spent, and a fresh check asked for
                ctx.commit(vec![spend]).await?;
                return if silent {
                    refuse("interaction_required", "a fresh authentication is needed")
                } else {
                    Ok(Next::StepUp)
                };
            }
        }
    }
    if needs_consent(ctx, &client, who, request).await? {
        return if silent {
            refuse("consent_required", "the person has not allowed this client")
        } else {
            Ok(Next::Consent)
        };
    }
    issue_code(ctx, info, &client, who, request, stored, auth, grant_use).await
}

/// The factor a subject's enrolment-only session confirmed (the latest, recovery codes aside),
/// as the authentication it makes with the client's own first factor.
async fn confirmed_in_session(
    ctx: &Context,
    who: &Principal,
) -> OidcResult<Option<Authentication>> {
    let methods = ctx.store.methods_of(who.session.account_id).await?;
    let latest = methods
        .iter()
        .filter(|m| m.disabled_at.is_none() && !m.kind.is_fallback_only())
        .filter_map(|m| Some((m.confirmed_at?, m.kind)))
        .filter(|(at, _)| *at >= who.session.created_at)
        .max_by_key(|(at, _)| *at);
    Ok(latest.map(|(at, kind)| {
        let used = [AuthMethod::ClientAsserted, kind.auth_method()];
        Authentication {
            auth_time: at,
            amr: auth::amr(&used),
            level: Level::parse(auth::acr(&used)).unwrap_or(Level::Aal1),
        }
    }))
}

async fn has_second_factor(ctx: &Context, who: &Principal) -> OidcResult<bool> {
    Ok(crate::mfa::is_on(ctx, who.session.account_id).await?)
}

/// Whether a third-party client needs the person's consent for this request.
async fn needs_consent(
    ctx: &Context,
    client: &ClientRecord,
    who: &Principal,
    request: &AuthorizationRecord,
) -> OidcResult<bool> {
    // a client's own subject is the client's person: there is nobody else to ask
    if client.first_party || request.subject.is_some() {
        return Ok(false);
    }
    let Some(consent) = ctx
        .store
        .oidc_consent(who.session.account_id, &client.client_id)
        .await?
    else {
        return Ok(true);
    };
    let covers = request
        .scope
        .split_whitespace()
        .all(|s| consent.scope.split_whitespace().any(|c| c == s));
    // prompt=consent asks again (answering the page takes it off the waiting request)
    let asked_again = request.prompt.split_whitespace().any(|p| p == "consent");
    Ok(!covers || asked_again)
}

#[allow(clippy::too_many_arguments)]
async fn issue_code(
    ctx: &Context,
    info: &ClientInfo,
    client: &ClientRecord,
    who: &Principal,
    request: &AuthorizationRecord,
    stored: bool,
    auth: Authentication,
    grant_use: Option<deadbolt_store::Write>,
) -> OidcResult<Next> {
    let now = ctx.clock.now();
    let code = token::generate("", ctx.rng.as_ref());
    let record = AuthorizationCodeRecord {
        hash: ctx.keys.hasher().hash_token(&code).0.to_vec(),
        client_id: client.client_id.clone(),
        account_id: who.session.account_id,
        session_id: who.session.id,
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: auth.auth_time,
        amr: auth.amr,
        // the name the client asked for where that is the level reached (RFC 9470: a resource
        // server compares the name), else the level's own
        acr: match Level::parse(&request.acr) {
            Some(asked) if asked == auth.level => request.acr.clone(),
            _ => auth.level.as_str().to_owned(),
        },
        created_at: now,
        expires_at: now + oidc::CODE_TTL,
        used_at: None,
        grant_id: None,
    };
    let authorized = event(
        ctx,
        EventKind::ClientAuthorized,
        Some(who.session.account_id),
        info,
        json!({"client_id": client.client_id, "acr": record.acr, "session_id": who.session.id}),
    );
    let mut writes = Vec::new();
    if stored {
        // first: of two tabs finishing one request, one alone gets a code
        writes.push(AuthorizationRecord::finish(&request.id));
    }
    writes.extend(grant_use);
    writes.push(record.insert());
    writes.push(authorized.write());
    match ctx.commit(writes).await? {
        BatchOutcome::Committed => {}
        BatchOutcome::GuardFailed(_) => {
            return Ok(Next::Redirect(error_url(
                ctx,
                request,
                "invalid_request",
                "this sign-in request was already answered",
            )))
        }
    }
    let mut pairs = vec![("code", code.expose())];
    if let Some(state) = &request.state {
        pairs.push(("state", state.as_str()));
    }
    Ok(Next::Redirect(response_url(
        ctx,
        &request.redirect_uri,
        &pairs,
    )))
}
