//! The authorization endpoint: checking a request ([`check`]), then answering it with the
//! browser's session ([`answer`]): a code at once, or the sign-in, step-up, consent or
//! enrolment page first, after which the request goes on from where it waited.
//!
//! Until the client and its redirect URI are known to match, nothing is sent anywhere: an
//! unknown client or redirect URI is shown on a page, never redirected to (no open redirect).

mod answer;
mod check;

pub use answer::proceed;
pub use check::{check, AuthorizeParams};

use super::error::OidcResult;
use crate::context::Context;
use deadbolt_store::AuthorizationRecord;

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
    /// The client's subject the request names signs in ([`crate::subject_login`]).
    SubjectSignIn,
}

/// Whether a browser's signed-in session may answer a request. A request that names a
/// client's subject is that subject's alone, and only with the session signed in for it: each
/// signed request is a new sign-in at the product, whose second factor is asked again (a
/// trusted device may stand in), however recently another request signed the subject in here.
/// A subject's session serves no other request (not its own client's for someone else, nor
/// any other client's).
pub fn serves(
    request: &AuthorizationRecord,
    who: &crate::client::Principal,
    account: &deadbolt_core::account::Account,
) -> bool {
    match request.subject {
        Some(_) => signed_in_for(request, who, account),
        None => account.subject_of.is_none(),
    }
}

/// Whether `who` is the session of the subject a request names, signed in for that request
/// (after its subject sign-in was begun).
pub fn signed_in_for(
    request: &AuthorizationRecord,
    who: &crate::client::Principal,
    account: &deadbolt_core::account::Account,
) -> bool {
    request.subject == Some(account.id)
        && request
            .subject_started_at
            .is_some_and(|begun| who.session.created_at >= begun)
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
