//! The page a handler works on: [`Page`] with its CSRF token, client and cookies, the
//! signed-in [`Viewer`] (the API's own session, found by its cookie), and [`SignedIn`].

use super::cookies::{read_cookie, session_cookie, session_cookie_value, signed_session};
use super::csrf;
use super::page_error::PageError;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use deadbolt_core::account::Account;
use deadbolt_usecases::client::{ClientInfo, Principal};
use deadbolt_usecases::sessions;
use minijinja::{context, Value};

/// A signed-in browser: its session (as the use cases know it) and account.
pub struct Viewer {
    pub who: Principal,
    pub account: Account,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.account.has_role("admin")
    }
}

/// What every page needs: the CSRF token for its forms, the client, the cookies, and the
/// viewer when signed in.
pub struct Page {
    pub state: AppState,
    pub csrf: String,
    /// The browser's CSRF nonce, which the form token is made from.
    nonce: String,
    pub client: ClientInfo,
    pub headers: HeaderMap,
    pub viewer: Option<Viewer>,
    pub path: String,
}

impl Page {
    /// The template context: the page's own values and the layout's.
    pub fn ctx(&self, own: Value) -> Value {
        let user = self.viewer.as_ref().map(|v| {
            context! {
                email => v.account.email.as_str(),
                admin => v.is_admin(),
                enrollment_only => v.who.session.enrollment_only,
                // a client's subject has no security page here: its product is its account
                subject => v.account.subject_of.is_some(),
            }
        });
        context! { csrf => self.csrf, user => user, path => self.path, ..own }
    }

    pub fn render(&self, template: &str, own: Value) -> Response {
        super::render(StatusCode::OK, template, self.ctx(own))
    }

    /// The form again with an error, announced and linked to `field`.
    pub fn form_error(
        &self,
        status: StatusCode,
        template: &str,
        field: &str,
        message: &str,
        own: Value,
    ) -> Response {
        let error = context! { field => field, message => message };
        super::render(
            status,
            template,
            self.ctx(context! { error => error, ..own }),
        )
    }

    /// The error page for `e`, in this page's layout (or its redirect).
    pub fn error_page(&self, e: PageError) -> Response {
        e.respond(|own| self.ctx(own))
    }

    pub fn cookie(&self, base: &str) -> Option<String> {
        read_cookie(&self.state, &self.headers, base)
    }

    /// Where a sign-in goes on to: the enrolment wizard where policy demands a factor first,
    /// an application's waiting sign-in if there is one, the device page if a device's code
    /// waits, else the account page.
    pub fn after_sign_in(&self, enrollment_required: bool) -> &'static str {
        if enrollment_required {
            "/account/mfa/new"
        } else if self.cookie(super::cookies::AUTHZ).is_some() {
            "/oauth2/continue"
        } else if self.cookie(super::cookies::DEVICE_CODE).is_some() {
            "/device"
        } else {
            "/account"
        }
    }

    pub fn viewer(&self) -> Result<&Viewer, PageError> {
        self.viewer.as_ref().ok_or(PageError::SignInNeeded)
    }

    /// After a privilege change (a step-up, a new password): the viewer's session gets a new id
    /// (see `sessions::renew`) and this page speaks for it from now on, its forms carrying a
    /// token bound to the new cookie. The cookie to set; none when the session ended meanwhile.
    pub async fn renew_session(&mut self) -> Result<Vec<HeaderValue>, PageError> {
        let viewer = self.viewer.as_mut().ok_or(PageError::SignInNeeded)?;
        let Some(sid) = deadbolt_usecases::sessions::renew(&self.state, &viewer.who).await? else {
            return Ok(vec![]);
        };
        viewer.who.session.id = sid;
        viewer.who.claims.sid = sid;
        self.csrf = csrf::token(
            &self.state,
            &self.nonce,
            &session_cookie_value(&self.state, sid),
        );
        Ok(vec![session_cookie(&self.state, sid)])
    }
}

async fn viewer_of(
    state: &AppState,
    client: &ClientInfo,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Viewer>, ApiError> {
    let Some(sid) = signed_session(state, headers) else {
        return Ok(None);
    };
    // the pages' script asks for push requests every few seconds: that is no visit, and must
    // not keep an unattended browser's session from ending when idle
    let visit = path != "/account/approvals";
    let viewer = sessions::browser_session(state, client, sid, visit).await?;
    Ok(viewer.map(|(who, account)| Viewer { who, account }))
}

impl FromRequestParts<AppState> for Page {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let crate::extract::Client(client) =
            crate::extract::Client::from_request_parts(parts, state).await?;
        let nonce = csrf::nonce(&parts.extensions);
        let path = parts.uri.path().to_owned();
        let mut viewer = viewer_of(state, &client, &parts.headers, &path).await?;
        // a client's subject is signed in here only for its client's sign-ins: elsewhere (the
        // account pages, the admin pages) the browser is nobody
        if viewer
            .as_ref()
            .is_some_and(|v| v.account.subject_of.is_some())
            && !subject_allows(&path)
        {
            viewer = None;
        }
        // a session that may only enroll a second factor sees nothing else (as the API's
        // `Principal` allows it only the enrolment endpoints)
        if viewer
            .as_ref()
            .is_some_and(|v| v.who.session.enrollment_only)
            && !enrollment_allows(&path)
        {
            return Err(PageError::Redirect("/account/mfa/new".into()));
        }
        Ok(Self {
            state: state.clone(),
            csrf: csrf::token(state, &nonce, &csrf::binding(state, &parts.headers)),
            nonce,
            client,
            headers: parts.headers.clone(),
            viewer,
            path,
        })
    }
}

/// The pages a client's subject's session is a viewer on: what enrolling and signing in to its
/// client need.
fn subject_allows(path: &str) -> bool {
    // no push approver: a subject has no Deadbolt session to answer from once this one ends
    !is_push_path(path) && enrollment_allows(path)
}

/// The push approver's pages: enrolling this browser, and its prompt's list and answers.
fn is_push_path(path: &str) -> bool {
    path == "/account/mfa/push" || is_approvals_path(path)
}

fn is_approvals_path(path: &str) -> bool {
    path == "/account/approvals" || path.starts_with("/account/approvals/")
}

/// The pages a session that may only enroll a second factor can reach.
fn enrollment_allows(path: &str) -> bool {
    // a push approver this session enrolled answers the sign-in that comes next
    is_approvals_path(path)
        || matches!(
            path,
            "/account/mfa/new"
            | "/account/mfa/totp"
            | "/account/mfa/email"
            | "/account/mfa/phone"
            | "/account/mfa/webauthn"
            | "/account/mfa/push"
            | "/account/mfa/confirm"
            | "/account/mfa/resend"
            | "/sign-out"
            // a session past its recent sign-in proves itself again before enrolling
            | "/step-up"
            | "/step-up/start"
            | "/step-up/send"
            | "/step-up/verify"
            // an application's sign-in waits, and is told what is missing
            | "/oauth2/authorize"
            | "/oauth2/continue"
            | "/oauth2/logout"
        )
}

/// A page that needs a signed-in viewer: others are sent to sign in.
pub struct SignedIn(pub Page);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let page = Page::from_request_parts(parts, state).await?;
        if page.viewer.is_none() {
            return Err(PageError::SignInNeeded);
        }
        Ok(Self(page))
    }
}

impl SignedIn {
    pub fn viewer(&self) -> &Viewer {
        // checked when extracted
        match &self.0.viewer {
            Some(v) => v,
            None => unreachable!("SignedIn is only built with a viewer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_that_may_only_enroll_answers_its_approvals() {
        assert!(enrollment_allows("/account/approvals"));
        assert!(enrollment_allows(
            "/account/approvals/0193a0b8-2c4e-7f00-8000-000000000000"
        ));
        assert!(!enrollment_allows("/account"));
        assert!(!enrollment_allows("/account/approvalsx"));
    }

    #[test]
    fn a_subject_enrolls_no_push_approver_and_answers_nothing() {
        assert!(subject_allows("/account/mfa/totp"));
        assert!(!subject_allows("/account/mfa/push"));
        assert!(!subject_allows("/account/approvals"));
        assert!(!subject_allows("/account/approvals/x"));
    }
}
