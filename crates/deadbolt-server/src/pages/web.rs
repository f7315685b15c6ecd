//! What every page handler stands on: cookies, the CSRF check, form bodies, the signed-in
//! viewer, and errors shown as pages.
//!
//! The page session is the API's session: a row in `sessions`, started by the same services.
//! The cookie carries `<session id>.<HMAC of it under the service's hashing key>`: opaque,
//! unforgeable, and dead the moment the row is revoked (sign-out, a password change, a
//! revocation from another device). Pending sign-in, reset and step-up state is a token of the
//! same services kept in its own short-lived HttpOnly cookie.
//!
//! CSRF: a random nonce in an HttpOnly cookie; every form carries HMAC(key, nonce) and every
//! POST must bring it back (double submit, bound by the key), come from our own origin
//! (`Origin`) and not be cross-site (`Sec-Fetch-Site`).

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use deadbolt_core::account::Account;
use deadbolt_core::ids::SessionId;
use deadbolt_core::random::RandomExt;
use deadbolt_usecases::client::{ClientInfo, Principal};
use deadbolt_usecases::jwt::AccessClaims;
use deadbolt_usecases::DomainError;
use minijinja::{context, Value};
use serde::de::DeserializeOwned;

/// Cookie names (prefixed, see [`cookie_name`]).
pub const SESSION: &str = "session";
pub const CSRF: &str = "csrf";
/// The mfa_token of a sign-in waiting for its second factor.
pub const PENDING: &str = "pending";
/// The trusted-device token.
pub const DEVICE: &str = "device";
/// The method last used to sign in on this browser (a method id; not a secret).
pub const LAST_METHOD: &str = "last-method";
/// The reset_token of a password reset under way.
pub const RESET: &str = "reset";
/// The challenge_token of a step-up under way.
pub const STEP_UP: &str = "step-up";

/// How long the pending states live: the services' own tokens expire sooner or with them.
pub const PENDING_SECONDS: i64 = 600;

/// Cookies are Secure (and `__Host-` prefixed) unless the public URL is plain-http localhost.
pub fn secure(state: &AppState) -> bool {
    let url = state.config.server.public_url.to_ascii_lowercase();
    let Some(rest) = url.strip_prefix("http://") else {
        return true;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

pub fn cookie_name(state: &AppState, base: &str) -> String {
    if secure(state) {
        format!("__Host-deadbolt-{base}")
    } else {
        format!("deadbolt-{base}")
    }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure where [`secure`] says.
/// `max_age: None` is a browser-session cookie.
pub fn set_cookie(state: &AppState, base: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax",
        cookie_name(state, base)
    );
    if secure(state) {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    // values are tokens we made (base64url, hex, uuids): always valid header bytes
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(state: &AppState, base: &str) -> HeaderValue {
    set_cookie(state, base, "", Some(0))
}

/// The value of a cookie of ours; oversized or odd values count as absent.
pub fn read_cookie(state: &AppState, headers: &HeaderMap, base: &str) -> Option<String> {
    let name = cookie_name(state, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 256
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// A response with cookies added.
pub fn with_cookies(mut response: Response, cookies: Vec<HeaderValue>) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// 303 See Other to a path of ours.
pub fn see_other(path: &str) -> Response {
    let location = if path.starts_with('/') && !path.starts_with("//") {
        path
    } else {
        "/"
    };
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

/// The CSRF nonce of this browser, found or made by [`page_layer`].
#[derive(Clone)]
struct CsrfNonce(String);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a form token is bound to besides the browser's nonce: the session cookie as sent (empty
/// before sign-in). A nonce cookie planted from a sibling origin on the same host then still
/// yields no token good for someone else's session.
fn csrf_binding(state: &AppState, headers: &HeaderMap) -> String {
    read_cookie(state, headers, SESSION).unwrap_or_default()
}

fn csrf_token(state: &AppState, nonce: &str, binding: &str) -> String {
    state
        .keys
        .hasher()
        .hash(&[b"page-csrf", nonce.as_bytes(), binding.as_bytes()])
        .to_hex()
}

fn csrf_ok(state: &AppState, nonce: &str, binding: &str, presented: &str) -> bool {
    let Some(bytes) = (0..presented.len())
        .step_by(2)
        .map(|i| {
            presented
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    // a form shown before a hashing-key rotation still posts
    state.keys.hashing().matches_any(
        state.clock.now(),
        &[b"page-csrf", nonce.as_bytes(), binding.as_bytes()],
        &bytes,
    )
}

/// Gives every browser a CSRF nonce cookie (made on its first visit).
pub async fn page_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let found = read_cookie(&state, req.headers(), CSRF).filter(|v| v.len() == 64);
    let fresh = found.is_none();
    let nonce = found.unwrap_or_else(|| hex(&state.rng.bytes::<32>()));
    req.extensions_mut().insert(CsrfNonce(nonce.clone()));
    let response = next.run(req).await;
    if fresh {
        with_cookies(response, vec![set_cookie(&state, CSRF, &nonce, None)])
    } else {
        response
    }
}

/// A signed-in browser: its session (as the services know it) and account.
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

    pub fn cookie(&self, base: &str) -> Option<String> {
        read_cookie(&self.state, &self.headers, base)
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
        self.csrf = csrf_token(
            &self.state,
            &self.nonce,
            &session_cookie_value(&self.state, sid),
        );
        Ok(vec![session_cookie(&self.state, sid)])
    }
}

/// The cookie value of a session.
pub fn session_cookie_value(state: &AppState, sid: SessionId) -> String {
    let id = sid.to_string();
    let mac = state.keys.hasher().hash(&[b"page-session", id.as_bytes()]);
    format!("{id}.{}", mac.to_hex())
}

/// The `Set-Cookie` that signs this browser in to session `sid`.
pub fn session_cookie(state: &AppState, sid: SessionId) -> HeaderValue {
    set_cookie(
        state,
        SESSION,
        &session_cookie_value(state, sid),
        Some(state.config.session.absolute_seconds),
    )
}

/// Idle time is counted from the last visit; note visits at most once a minute.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

async fn viewer_of(
    state: &AppState,
    client: &ClientInfo,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, ApiError> {
    let Some(value) = read_cookie(state, headers, SESSION) else {
        return Ok(None);
    };
    let Some((id, mac)) = value.split_once('.') else {
        return Ok(None);
    };
    let Ok(uuid) = uuid::Uuid::parse_str(id) else {
        return Ok(None);
    };
    let sid = SessionId(uuid);
    let Some(mac) = (0..mac.len())
        .step_by(2)
        .map(|i| {
            mac.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return Ok(None);
    };
    // a cookie made before a hashing-key rotation stays good for its session's life, which
    // the retired key outlasts
    if !state.keys.hashing().matches_any(
        state.clock.now(),
        &[b"page-session", sid.to_string().as_bytes()],
        &mac,
    ) {
        return Ok(None);
    }
    let now = state.clock.now();
    let Some(session) = state.store.session(sid).await? else {
        return Ok(None);
    };
    if !state.config.session.is_live(&session.times(), now) {
        return Ok(None);
    }
    let Some(account) = state.store.account_by_id(session.account_id).await? else {
        return Ok(None);
    };
    // where policy does not let the account's roles sign in, its page session is not kept
    // going either: the visitor is signed out there (and a sign-in is refused)
    if !deadbolt_usecases::risk::session_location_allowed(state, client, &account) {
        return Ok(None);
    }
    if now - session.last_active_at > TOUCH_EVERY {
        state
            .store
            .commit(vec![deadbolt_store::touch_session(sid, now)])
            .await?;
    }
    let claims = AccessClaims {
        iss: state.config.server.public_url.clone(),
        sub: session.account_id,
        aud: state.config.server.public_url.clone(),
        iat: now.unix_timestamp(),
        exp: now.unix_timestamp(),
        jti: uuid::Uuid::nil(),
        sid: session.id,
        auth_time: session.auth_time.unix_timestamp(),
        amr: session.amr.clone(),
        acr: session.acr.clone(),
    };
    Ok(Some(Viewer {
        who: Principal { claims, session },
        account,
    }))
}

impl FromRequestParts<AppState> for Page {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let crate::extract::Client(client) =
            crate::extract::Client::from_request_parts(parts, state).await?;
        let nonce = parts
            .extensions
            .get::<CsrfNonce>()
            .map(|n| n.0.clone())
            .unwrap_or_default();
        let viewer = viewer_of(state, &client, &parts.headers).await?;
        let path = parts.uri.path().to_owned();
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
            csrf: csrf_token(state, &nonce, &csrf_binding(state, &parts.headers)),
            nonce,
            client,
            headers: parts.headers.clone(),
            viewer,
            path,
        })
    }
}

/// The pages a session that may only enroll a second factor can reach.
fn enrollment_allows(path: &str) -> bool {
    matches!(
        path,
        "/account/mfa/new"
            | "/account/mfa/totp"
            | "/account/mfa/email"
            | "/account/mfa/phone"
            | "/account/mfa/webauthn"
            | "/account/mfa/confirm"
            | "/account/mfa/resend"
            | "/sign-out"
            // a session past its recent sign-in proves itself again before enrolling
            | "/step-up"
            | "/step-up/start"
            | "/step-up/send"
            | "/step-up/verify"
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

/// The origin (`scheme://host[:port]`) of the public URL.
fn public_origin(state: &AppState) -> String {
    let url = state.config.server.public_url.to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => url,
    }
}

/// A form POST from our own pages: same origin, not cross-site, with the right CSRF token.
/// Its fields are parsed into `T` (unknown fields, such as `csrf`, are ignored).
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let headers = req.headers();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
            if origin != public_origin(state) {
                return Err(PageError::Csrf);
            }
        }
        if let Some(site) = headers.get("sec-fetch-site") {
            if !matches!(site.to_str().unwrap_or_default(), "same-origin" | "none") {
                return Err(PageError::Csrf);
            }
        }
        let nonce = req
            .extensions()
            .get::<CsrfNonce>()
            .map(|n| n.0.clone())
            .unwrap_or_default();
        let binding = csrf_binding(state, req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::Api(ApiError::PayloadTooLarge)
            } else {
                PageError::BadForm
            }
        })?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        let presented = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        if nonce.is_empty() || !csrf_ok(state, &nonce, &binding, presented) {
            return Err(PageError::Csrf);
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(PageForm)
            .map_err(|_| PageError::BadForm)
    }
}

/// A form with nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// An empty form field is an absent one.
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What a person is told about a failure, in words. Internals never show.
pub fn message(e: &DomainError) -> String {
    match e {
        DomainError::Internal(_) => "Something went wrong on our side. Please try again.".into(),
        DomainError::Unavailable | DomainError::Overloaded => {
            "The service is busy. Please try again in a moment.".into()
        }
        DomainError::EmailUnverified => {
            "Verify your email address first, with the code we sent to it.".into()
        }
        DomainError::WrongSecondFactor { attempts_remaining } => format!(
            "That code is not right. {attempts_remaining} more {} before you must sign in again.",
            if *attempts_remaining == 1 {
                "try"
            } else {
                "tries"
            }
        ),
        DomainError::InvalidCode => "That code is wrong or has expired.".into(),
        DomainError::MfaTokenInvalid => {
            "This attempt has expired or had too many wrong codes. Please start again.".into()
        }
        DomainError::InvalidCredentials => "Wrong email or password.".into(),
        DomainError::TooManyAttempts { retry_after } | DomainError::MfaLocked { retry_after } => {
            format!(
                "Too many attempts. Try again in {}.",
                wait_words(*retry_after)
            )
        }
        DomainError::ResendTooSoon { retry_after } => format!(
            "A code was sent moments ago. You can ask for another in {}.",
            wait_words(*retry_after)
        ),
        DomainError::InvalidEmail => "Enter an email address like name@example.com.".into(),
        DomainError::InvalidPhone => {
            "Enter a phone number in international form, like +12015550123.".into()
        }
        DomainError::WeakPassword(why) => format!("Choose a stronger password: {why}."),
        DomainError::EmailTaken => "An account with this email already exists.".into(),
        DomainError::InvalidToken => "Your session has ended. Please sign in again.".into(),
        DomainError::NotFound => "That no longer exists.".into(),
        other => sentence(&other.to_string()),
    }
}

/// An error's text as a sentence: capitalised, one full stop.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str())
            .trim_end_matches("..")
            .to_owned(),
        None => "Something went wrong.".into(),
    }
}

fn wait_words(seconds: i64) -> String {
    if seconds < 90 {
        format!("{} seconds", seconds.max(1))
    } else {
        format!("{} minutes", (seconds + 59) / 60)
    }
}

/// A failure that ends in an error page (or a redirect), not in the form again.
#[derive(Debug)]
pub enum PageError {
    Api(ApiError),
    SignInNeeded,
    Csrf,
    BadForm,
    NotFound,
    Redirect(String),
}

impl From<DomainError> for PageError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidToken => Self::SignInNeeded,
            DomainError::EnrollmentRequired => Self::Redirect("/account/mfa/new".into()),
            e => Self::Api(e.into()),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Domain(e) => e.into(),
            e => Self::Api(e),
        }
    }
}

impl PageError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Api(ApiError::Domain(e)) => {
                (ApiError::status_of(e), "Something went wrong", message(e))
            }
            Self::Api(e) => (e.status(), "Something went wrong", sentence(&e.to_string())),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your safety the form could not be sent. Go back, reload the page and try again."
                    .into(),
            ),
            Self::BadForm => (
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                "Go back, reload the page and try again.".into(),
            ),
            Self::NotFound | Self::SignInNeeded | Self::Redirect(_) => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.".into(),
            ),
        }
    }

    /// The error page, with the viewer's layout.
    pub fn render(self, page: &Page) -> Response {
        match self {
            Self::SignInNeeded => see_other("/sign-in"),
            Self::Redirect(to) => see_other(&to),
            other => {
                if let Self::Api(ApiError::Domain(DomainError::Internal(e))) = &other {
                    tracing::error!(error = %format!("{e:#}"), "page failed");
                }
                let (status, title, text) = other.parts();
                super::render(
                    status,
                    "error.html",
                    page.ctx(context! { title => title, text => text }),
                )
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignInNeeded => see_other("/sign-in"),
            Self::Redirect(to) => see_other(&to),
            other => {
                if let Self::Api(ApiError::Domain(DomainError::Internal(e))) = &other {
                    tracing::error!(error = %format!("{e:#}"), "page failed");
                }
                let (status, title, text) = other.parts();
                super::render(
                    status,
                    "error.html",
                    context! { title => title, text => text },
                )
            }
        }
    }
}

pub type PageResult = Result<Response, PageError>;
