//! Admin pages: account lookup with MFA reset and unlock, and the policy editor (behind the
//! `policy.change` step-up). The use cases check that the viewer is an admin signed in with a
//! second factor; these pages only ask them.

use super::account::when;
use super::form::{given, PageForm};
use super::page_error::{message, PageError, PageResult};
use super::see_other;
use super::step_up::{self, Op};
use super::web::{Page, SignedIn};
use crate::state::AppState;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use deadbolt_core::ids::AccountId;
use deadbolt_usecases::DomainError;
use deadbolt_usecases::{admin, mfa, policy};
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/lookup", post(lookup))
        .route("/admin/accounts/mfa-reset", post(mfa_reset_form))
        .route("/admin/accounts/unlock", post(unlock))
        .route("/admin/policy", get(policy_page).post(save_policy))
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    Some(match notice? {
        "mfa-reset" => "Two-step sign-in was reset for that account. Its owner was told by email.",
        "unlocked" => "The account's failure counts were cleared.",
        "policy" => "The policy was saved. Every instance applies it within a second.",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// The admin check of the use cases, before anything is shown.
async fn ensure_admin(page: &Page) -> Result<(), PageError> {
    let viewer = page.viewer()?;
    admin::require_admin(&page.state, &viewer.who).await?;
    Ok(())
}

async fn home(SignedIn(page): SignedIn, Query(q): Query<NoticeQuery>) -> PageResult {
    ensure_admin(&page).await?;
    Ok(page.render(
        "admin.html",
        context! { notice => notice_text(q.notice.as_deref()) },
    ))
}

#[derive(Serialize)]
struct Found {
    id: String,
    email: String,
    email_verified: bool,
    roles: Vec<String>,
    mfa_enabled: bool,
    created: String,
    sso: Option<String>,
}

#[derive(Deserialize)]
struct LookupForm {
    email: Option<String>,
}

async fn lookup(SignedIn(page): SignedIn, PageForm(form): PageForm<LookupForm>) -> PageResult {
    let email = given(&form.email).unwrap_or_default().to_owned();
    if email.is_empty() {
        return Ok(page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin.html",
            "email",
            "Enter an email address to look for.",
            context! {},
        ));
    }
    let viewer = page.viewer()?;
    let accounts = admin::find_accounts(&page.state, &viewer.who, &email).await?;
    let mut found = Vec::new();
    for a in accounts {
        let mfa_enabled = mfa::is_on(&page.state, a.id).await?;
        found.push(Found {
            id: a.id.to_string(),
            email: a.email.as_str().to_owned(),
            email_verified: a.email_verified,
            roles: a.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            mfa_enabled,
            created: when(a.created_at),
            sso: a.sso_provider.clone(),
        });
    }
    Ok(page.render(
        "admin.html",
        context! { email => email, found => found, searched => true },
    ))
}

#[derive(Deserialize)]
struct AccountForm {
    account_id: Option<String>,
}

fn account_of(form: &AccountForm) -> Result<AccountId, PageError> {
    given(&form.account_id)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(AccountId)
        .ok_or(PageError::BadForm)
}

pub async fn mfa_reset(page: &Page, id: AccountId) -> PageResult {
    let viewer = page.viewer()?;
    match admin::mfa_reset(&page.state, &page.client, &viewer.who, id).await {
        Ok(()) => Ok(see_other("/admin?notice=mfa-reset")),
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start(page, Op::AdminMfaReset(id), || mfa_reset(page, id)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn mfa_reset_form(
    SignedIn(page): SignedIn,
    PageForm(form): PageForm<AccountForm>,
) -> PageResult {
    let id = account_of(&form)?;
    mfa_reset(&page, id).await
}

async fn unlock(SignedIn(page): SignedIn, PageForm(form): PageForm<AccountForm>) -> PageResult {
    let id = account_of(&form)?;
    let viewer = page.viewer()?;
    admin::unlock(&page.state, &page.client, &viewer.who, id).await?;
    Ok(see_other("/admin?notice=unlocked"))
}

async fn policy_page(SignedIn(page): SignedIn, Query(q): Query<NoticeQuery>) -> PageResult {
    let viewer = page.viewer()?;
    let (version, current) = policy::current(&page.state, &viewer.who).await?;
    let text = serde_json::to_string_pretty(&*current).map_err(|e| {
        PageError::from(DomainError::Internal(anyhow::anyhow!(
            "policy as JSON: {e}"
        )))
    })?;
    step_up::guarded_form(
        &page,
        Op::EditPolicy,
        "admin_policy.html",
        context! { policy => text, version => version, notice => notice_text(q.notice.as_deref()) },
    )
    .await
}

#[derive(Deserialize)]
struct PolicyForm {
    policy: Option<String>,
    /// The version the editor showed: a change saved meanwhile by someone else is not
    /// overwritten (as `If-Match` on the API).
    version: Option<String>,
}

async fn save_policy(SignedIn(page): SignedIn, PageForm(form): PageForm<PolicyForm>) -> PageResult {
    let text = form.policy.unwrap_or_default();
    let version = given(&form.version).and_then(|v| v.parse::<i64>().ok());
    let again = |msg: &str| {
        page.form_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin_policy.html",
            "policy",
            msg,
            context! { policy => text, version => version },
        )
    };
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return Ok(again(&format!(
                "The policy is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            )))
        }
    };
    let viewer = page.viewer()?;
    match policy::replace(&page.state, &page.client, &viewer.who, doc, version).await {
        Ok(_) => Ok(see_other("/admin/policy?notice=policy")),
        Err(DomainError::StepUpRequired { .. }) => {
            step_up::start_for_form(&page, Op::EditPolicy).await
        }
        Err(DomainError::InvalidPolicy { field, message, .. }) => {
            Ok(again(&format!("{field}: {message}")))
        }
        Err(DomainError::PreconditionFailed) => Ok(again(
            "Someone saved a change to the policy since you opened it. Copy your edits, reload the page and apply them again.",
        )),
        Err(e @ DomainError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(again(&message(&e))),
    }
}
