//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client sends the browser to
//! sign out, with the ID token it was given as a hint and, optionally, where to go afterwards
//! (only to a URI registered for that client).

use crate::context::Context;
use crate::jwt::verify_any;
use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// A checked logout request.
#[derive(Debug, PartialEq, Eq)]
pub struct Logout {
    /// Where to send the browser afterwards, with `state`.
    pub then: Option<String>,
    /// The account the hint's ID token was issued for: a browser signed in as it is signed out
    /// without a question.
    pub hinted_sub: Option<String>,
    /// The client that asked (named by the hint or by `client_id`), and its name for the
    /// confirmation page.
    pub client_id: Option<String>,
    pub client_name: Option<String>,
}

/// What a hint must be: an ID token of this service (`typ` JWT, issued to the client it names
/// as its audience), not an access or step-up token signed with the same keys.
#[derive(Deserialize)]
struct Hint {
    iss: String,
    sub: String,
    aud: String,
    azp: Option<String>,
}

/// Checks a logout request; `Err` is what to show (nothing is redirected to).
pub async fn check(ctx: &Context, params: LogoutParams) -> Result<Logout, &'static str> {
    let now = ctx.clock.now();
    let hint = match params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        // an expired ID token is still a good hint: only its signature and issuer count
        Some(raw) => match verify_any::<Hint>(&ctx.keys, raw, now) {
            Ok((header, h))
                if header.typ.as_deref() == Some("JWT")
                    && h.iss == super::issuer(ctx)
                    && h.azp.as_deref() == Some(h.aud.as_str()) =>
            {
                Some(h)
            }
            _ => return Err("The sign-out link carries an ID token this service did not issue."),
        },
    };
    let client_id = match (&hint, params.client_id.as_deref()) {
        (Some(h), Some(id)) if h.aud != id => {
            return Err("The sign-out link names two different applications.")
        }
        (Some(h), _) => Some(h.aud.clone()),
        (None, id) => id.map(str::to_owned),
    };
    let client = match client_id {
        Some(id) => ctx.store.client(&id).await.map_err(|e| {
            tracing::error!(error = %e, "reading a client failed");
            "This service cannot answer right now. Try again in a moment."
        })?,
        None => None,
    };
    let then = match params.post_logout_redirect_uri.as_deref() {
        None => None,
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(
                    "The application asked to send you to an address it has not registered.",
                );
            }
            let mut url = url::Url::parse(uri).map_err(|_| "The sign-out address is not valid.")?;
            if let Some(state) = params.state.as_deref().filter(|s| s.len() <= 512) {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
    };
    Ok(Logout {
        then,
        hinted_sub: hint.map(|h| h.sub),
        client_id: client.as_ref().map(|c| c.client_id.clone()),
        client_name: client.map(|c| c.name),
    })
}

/// Whether a checked logout's ID-token hint names `account`: its `sub` and, for a client's
/// subject, that client (two clients' `42` are two people). A hint whose `sub` is also the
/// name of one of its client's subjects names nobody for sure, and an account of ours is asked.
pub async fn hint_names(
    ctx: &Context,
    logout: &Logout,
    account: &deadbolt_core::account::Account,
) -> crate::error::DomainResult<bool> {
    let sub = super::tokens::subject_identifier(account);
    if logout.hinted_sub.as_deref() != Some(sub.as_str()) {
        return Ok(false);
    }
    let client = logout.client_id.as_deref();
    Ok(match &account.subject_of {
        Some(s) => client == Some(s.client_id.as_str()),
        None => match client {
            Some(client) => match crate::subjects::find(ctx, client, &sub).await {
                Ok(_) => false,
                Err(crate::error::DomainError::NotFound) => true,
                Err(e) => return Err(e),
            },
            None => true,
        },
    })
}
