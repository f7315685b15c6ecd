//! The authorization endpoint: checking a request, then answering it with the browser's
//! session: a code at once, or the sign-in, step-up, consent or enrolment page first, after
//! which the request goes on from where it waited.
//!
//! Until the client and its redirect URI are known to match, nothing is sent anywhere: an
//! unknown client or redirect URI is shown on a page, never redirected to (no open redirect).

use super::error::OidcResult;
use crate::client::{ClientInfo, Principal};
use crate::context::Context;
use crate::error::DomainError;
use crate::events::event;
use deadbolt_core::event::EventKind;
use deadbolt_core::oidc::{self, Authentication, Demand, Level, Needed, Prompt};
use deadbolt_core::oidc_client::{looks_like_a_client_id, Grant};
use deadbolt_core::random::RandomExt;
use deadbolt_core::stepup::Action;
use deadbolt_core::token;
use deadbolt_store::{AuthorizationCodeRecord, AuthorizationRecord, BatchOutcome, ClientRecord};
use serde_json::json;

/// The request's parameters as they came (query or form), unchecked.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub login_hint: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub registration: Option<String>,
}

/// A request that cannot go on.
#[derive(Debug)]
pub enum Refused {
    /// The client or its redirect URI is not known: shown to the person, sent nowhere.
    Shown(&'static str),
    /// Told to the client at its redirect URI (this URL).
    Redirect(String),
}

/// A checked request, ready to be answered.
#[derive(Debug, Clone)]
pub struct Checked {
    pub request: AuthorizationRecord,
    /// `prompt=none`: answer without showing any page.
    pub silent: bool,
}

/// What comes next for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Back to the client, with a code or an error (this URL).
    Redirect(String),
    /// The sign-in page (again, for `prompt=login`).
    SignIn,
    /// The step-up dialog for [`Action::OIDC_AUTHORIZE`].
    StepUp,
    /// The consent page of a third-party client.
    Consent,
    /// The session may only enrol a second factor: the enrolment wizard.
    Enrol,
}

/// `redirect_uri` with the response parameters, and `iss` (RFC 9207) so that a client talking
/// to several providers can tell which one answered.
pub fn response_url(ctx: &Context, redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        // registered URIs are checked to parse; a row from elsewhere is not followed
        return "/".to_owned();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        q.append_pair("iss", &super::issuer(ctx));
    }
    url.into()
}

/// The error response at the client's redirect URI.
pub fn error_url(
    ctx: &Context,
    request: &AuthorizationRecord,
    code: &str,
    description: &str,
) -> String {
    let mut pairs = vec![("error", code), ("error_description", description)];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    response_url(ctx, &request.redirect_uri, &pairs)
}

fn bounded(value: Option<String>, name: &'static str) -> Result<Option<String>, &'static str> {
    match value {
        Some(v) if v.len() > oidc::MAX_PARAM => Err(name),
        Some(v) if v.is_empty() => Ok(None),
        v => Ok(v),
    }
}

/// Checks a request. The client and redirect URI first: until both are known, every problem
/// is [`Refused::Shown`]; after, [`Refused::Redirect`] with the standard's error code.
pub async fn check(ctx: &Context, params: AuthorizeParams) -> Result<Checked, Refused> {
    let client_id = params
        .client_id
        .as_deref()
        .filter(|id| looks_like_a_client_id(id))
        .ok_or(Refused::Shown(
            "The application that sent you here is not registered with this service.",
        ))?;
    let client = match ctx.store.client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(Refused::Shown(
                "The application that sent you here is not registered with this service.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a client failed");
            return Err(Refused::Shown(
                "This service cannot answer right now. Try again in a moment.",
            ));
        }
    };
    let redirect_uri = params
        .redirect_uri
        .clone()
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
        .ok_or(Refused::Shown(
            "The application asked to send you to an address it has not registered.",
        ))?;
    let now = ctx.clock.now();
    // the state goes back even with an error, unless it is itself the problem
    let state = bounded(params.state.clone(), "state").unwrap_or(None);
    let mut request = AuthorizationRecord {
        id: request_id(ctx),
        client_id: client.client_id.clone(),
        redirect_uri,
        scope: String::new(),
        state,
        nonce: None,
        code_challenge: None,
        prompt: String::new(),
        max_age: None,
        acr: Level::Aal1.as_str().to_owned(),
        login_hint: None,
        created_at: now,
        expires_at: now + oidc::REQUEST_TTL,
    };
    let refuse = |request: &AuthorizationRecord, code: &str, why: &str| {
        Refused::Redirect(error_url(ctx, request, code, why))
    };
    if params.request.is_some() {
        return Err(refuse(
            &request,
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.request_uri.is_some() {
        return Err(refuse(
            &request,
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if params.registration.is_some() {
        return Err(refuse(
            &request,
            "registration_not_supported",
            "registration is not supported",
        ));
    }
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse(
            &request,
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !matches!(params.response_mode.as_deref(), None | Some("query")) {
        return Err(refuse(
            &request,
            "invalid_request",
            "response_mode: only query is supported",
        ));
    }
    if !client
        .grants
        .iter()
        .any(|g| g == Grant::AuthorizationCode.as_str())
    {
        return Err(refuse(
            &request,
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    request.scope = oidc::scopes(params.scope.as_deref(), &client.scopes)
        .map_err(|why| refuse(&request, "invalid_scope", why))?
        .join(" ");
    request.code_challenge = match (
        bounded(params.code_challenge, "code_challenge"),
        params.code_challenge_method.as_deref(),
    ) {
        (Ok(Some(c)), Some("S256")) if oidc::is_s256_challenge(&c) => Some(c),
        (Ok(Some(_)), Some("S256")) => {
            return Err(refuse(
                &request,
                "invalid_request",
                "code_challenge: not an S256 challenge",
            ))
        }
        (Ok(Some(_)), _) => {
            return Err(refuse(
                &request,
                "invalid_request",
                "code_challenge_method: only S256 is supported",
            ))
        }
        (Ok(None), _) if client.public => {
            return Err(refuse(
                &request,
                "invalid_request",
                "code_challenge: a public client must use PKCE (S256)",
            ))
        }
        (Ok(None), _) => None,
        (Err(_), _) => {
            return Err(refuse(
                &request,
                "invalid_request",
                "code_challenge: too long",
            ))
        }
    };
    let prompt = Prompt::parse(params.prompt.as_deref())
        .map_err(|why| refuse(&request, "invalid_request", why))?;
    request.prompt = prompt.stored();
    request.max_age = match params.max_age.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| (0..=i64::from(u32::MAX)).contains(n))
                .ok_or_else(|| {
                    refuse(&request, "invalid_request", "max_age: a number of seconds")
                })?,
        ),
    };
    if params
        .state
        .as_ref()
        .is_some_and(|s| s.len() > oidc::MAX_PARAM)
    {
        return Err(refuse(&request, "invalid_request", "state: too long"));
    }
    request.nonce = bounded(params.nonce, "nonce")
        .map_err(|_| refuse(&request, "invalid_request", "nonce: too long"))?;
    request.login_hint = bounded(params.login_hint, "login_hint")
        .map_err(|_| refuse(&request, "invalid_request", "login_hint: too long"))?;
    request.acr = Level::requested(params.acr_values.as_deref())
        .as_str()
        .to_owned();
    Ok(Checked {
        request,
        silent: prompt.none,
    })
}

/// Stores a request while the person signs in, steps up or consents.
pub async fn wait(ctx: &Context, request: &AuthorizationRecord) -> OidcResult<()> {
    ctx.commit(vec![request.insert()]).await?;
    Ok(())
}

/// The stored request with this id, while it may still be answered.
pub async fn waiting(ctx: &Context, id: &str) -> OidcResult<Option<AuthorizationRecord>> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let now = ctx.clock.now();
    Ok(ctx
        .store
        .oidc_request(id)
        .await?
        .filter(|r| r.expires_at > now))
}

/// Answers a request for the browser's `viewer` (None: nobody signed in). `stored` says
/// whether the request waits in the store (it is then ended with the answer). `silent` is
/// `prompt=none`: where a page would be needed, the client is told so instead.
pub async fn proceed(
    ctx: &Context,
    info: &ClientInfo,
    request: &AuthorizationRecord,
    stored: bool,
    silent: bool,
    viewer: Option<&Principal>,
) -> OidcResult<Next> {
    let refuse = |code: &str, why: &str| Ok(Next::Redirect(error_url(ctx, request, code, why)));
    let Some(client) = ctx.store.client(&request.client_id).await? else {
        // deleted while the person was signing in: nothing may be sent to it any more
        return Err(DomainError::NotFound.into());
    };
    let Some(who) = viewer else {
        return if silent {
            refuse("login_required", "nobody is signed in")
        } else {
            Ok(Next::SignIn)
        };
    };
    if who.session.enrollment_only {
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
    let mut auth = Authentication {
        auth_time: who.session.auth_time,
        amr: who.session.amr.clone(),
        level: Level::parse(&who.session.acr).unwrap_or(Level::Aal1),
    };
    let mut grant_use = None;
    match oidc::needed(&demand, &auth, now) {
        Needed::Nothing => {}
        Needed::SignIn if silent => return refuse("login_required", "a new sign-in is needed"),
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
                    match sso_account(ctx, who).await? {
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

async fn has_second_factor(ctx: &Context, who: &Principal) -> OidcResult<bool> {
    Ok(crate::mfa::is_on(ctx, who.session.account_id).await?)
}

async fn sso_account(ctx: &Context, who: &Principal) -> OidcResult<bool> {
    let account = crate::sessions::account_of(ctx, who).await?;
    Ok(account.sso_provider.is_some())
}

/// Whether a third-party client needs the person's consent for this request.
async fn needs_consent(
    ctx: &Context,
    client: &ClientRecord,
    who: &Principal,
    request: &AuthorizationRecord,
) -> OidcResult<bool> {
    if client.first_party {
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
        acr: auth.level.as_str().to_owned(),
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

/// A random id for a waiting request (never secret: it names a request, it proves nothing).
fn request_id(ctx: &Context) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    URL_SAFE_NO_PAD.encode(ctx.rng.bytes::<16>())
}
