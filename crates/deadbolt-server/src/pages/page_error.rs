//! Failures shown as pages: [`PageError`], its error page, and the words a person is told
//! about a failure ([`message`]).

use super::see_other;
use crate::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deadbolt_usecases::DomainError;
use minijinja::{context, Value};

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

    /// The redirect, or the error page with `layout` adding the layout's values (the viewer's,
    /// where there is a page) to its context.
    pub fn respond(self, layout: impl FnOnce(Value) -> Value) -> Response {
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
                    layout(context! { title => title, text => text }),
                )
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.respond(|own| own)
    }
}

pub type PageResult = Result<Response, PageError>;
