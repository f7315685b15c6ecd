//! Checking an authorization request: the client and its redirect URI first, then every
//! parameter, each problem in the standard's words.

use super::{error_url, Checked, Refused};
use crate::client::ClientInfo;
use crate::context::Context;
use crate::oidc::request_object::{self, RequestObject};
use crate::subjects;
use deadbolt_core::oidc::{self, Level, Prompt};
use deadbolt_core::oidc_client::{looks_like_a_client_id, Grant};
use deadbolt_core::random::RandomExt;
use deadbolt_store::{spend_request_object, AuthorizationRecord, BatchOutcome};

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

fn bounded(value: Option<String>, name: &'static str) -> Result<Option<String>, &'static str> {
    match value {
        Some(v) if v.len() > oidc::MAX_PARAM => Err(name),
        Some(v) if v.is_empty() => Ok(None),
        v => Ok(v),
    }
}

const UNAVAILABLE: &str = "This service cannot answer right now. Try again in a moment.";

/// Checks a request. The client and redirect URI first: until both are known, every problem
/// is [`Refused::Shown`]; after, [`Refused::Redirect`] with the standard's error code. A
/// signed request object (RFC 9101) is checked before anything in it is read, and then only
/// its parameters count; the subject it names is created or updated.
pub async fn check(
    ctx: &Context,
    info: &ClientInfo,
    params: AuthorizeParams,
) -> Result<Checked, Refused> {
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
            return Err(Refused::Shown(UNAVAILABLE));
        }
    };
    let now = ctx.clock.now();
    let (params, signed) = match params.request.as_deref() {
        Some(jwt) => {
            let object = request_object::verify(&client, &super::super::issuer(ctx), jwt, now)
                .map_err(Refused::Shown)?;
            (object.params.clone(), Some(object))
        }
        None => (params, None),
    };
    let redirect_uri = params
        .redirect_uri
        .clone()
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
        .ok_or(Refused::Shown(
            "The application asked to send you to an address it has not registered.",
        ))?;
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
        subject: None,
        subject_started_at: None,
    };
    let refuse = |request: &AuthorizationRecord, code: &str, why: &str| {
        Refused::Redirect(error_url(ctx, request, code, why))
    };
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
    match params.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => {
            return Err(refuse(
                &request,
                "invalid_request",
                "response_type is required",
            ))
        }
        Some(_) => {
            return Err(refuse(
                &request,
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
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
    // kept by the name the client asked for, so that the tokens can answer in its words
    request.acr = Level::requested_name(params.acr_values.as_deref())
        .unwrap_or(Level::Aal1.as_str())
        .to_owned();
    if let Some(object) = signed {
        request.subject = accept_signed(ctx, info, &client.client_id, object).await?;
    }
    Ok(Checked {
        request,
        silent: prompt.none,
    })
}

/// Spends a checked request object (each is used once) and writes the subject it names, in one
/// batch: the subject's account, for the request to wait on.
async fn accept_signed(
    ctx: &Context,
    info: &ClientInfo,
    client_id: &str,
    object: RequestObject,
) -> Result<Option<deadbolt_core::ids::AccountId>, Refused> {
    let mut writes = vec![spend_request_object(
        client_id,
        &object.jti,
        object.expires_at,
    )];
    let mut subject = None;
    if let Some(details) = &object.subject {
        let prepared = subjects::prepare(ctx, info, client_id, details)
            .await
            .map_err(|e| match e {
                crate::error::DomainError::Internal(_) | crate::error::DomainError::Unavailable => {
                    Refused::Shown(UNAVAILABLE)
                }
                _ => Refused::Shown(
                    "The application's signed request names its user with details that are not valid.",
                ),
            })?;
        subject = Some(prepared.account.id);
        writes.extend(prepared.writes);
    }
    match ctx.commit(writes).await {
        Ok(BatchOutcome::Committed) => Ok(subject),
        Ok(BatchOutcome::GuardFailed(0)) => Err(Refused::Shown(
            "This sign-in link was already used. Go back to the application and sign in again.",
        )),
        // the same subject created by a parallel request: the person tries again
        Ok(BatchOutcome::GuardFailed(_)) => Err(Refused::Shown(UNAVAILABLE)),
        Err(e) => {
            tracing::error!(error = %e, "accepting a signed request failed");
            Err(Refused::Shown(UNAVAILABLE))
        }
    }
}

/// A random id for a waiting request (never secret: it names a request, it proves nothing).
fn request_id(ctx: &Context) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    URL_SAFE_NO_PAD.encode(ctx.rng.bytes::<16>())
}
