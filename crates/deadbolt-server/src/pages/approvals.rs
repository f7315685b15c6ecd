//! The approver's side of push approval on the hosted pages: every signed-in page's script asks
//! `GET /account/approvals` for the pending requests this browser's session approves, and
//! answers one with `POST /account/approvals/{id}` (a form post with its CSRF token). Both
//! answer JSON, for the script.

use super::form::{given, PageForm};
use super::page_error::message;
use super::web::SignedIn;
use crate::routes::push::approval_list;
use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deadbolt_core::ids::ApprovalId;
use deadbolt_core::push::Decision;
use deadbolt_usecases::{push, DomainError};
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/approvals", get(pending))
        .route("/account/approvals/{id}", post(answer))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn pending(SignedIn(page): SignedIn) -> Response {
    let Ok(viewer) = page.viewer() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match push::pending_for(&page.state, &viewer.who).await {
        Ok(list) => no_store(Json(approval_list(list)).into_response()),
        Err(e) => no_store(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"message": message(&e)})),
            )
                .into_response(),
        ),
    }
}

#[derive(Deserialize)]
struct AnswerForm {
    decision: Option<String>,
    number: Option<String>,
}

async fn answer(
    SignedIn(page): SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<AnswerForm>,
) -> Response {
    let bad = |status: StatusCode, text: &str| {
        no_store((status, Json(json!({"message": text}))).into_response())
    };
    let Ok(viewer) = page.viewer() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(id) = uuid::Uuid::parse_str(&id).ok().map(ApprovalId) else {
        return bad(StatusCode::NOT_FOUND, "This request is no longer waiting.");
    };
    let Some(decision) = given(&form.decision).and_then(Decision::parse) else {
        return bad(StatusCode::BAD_REQUEST, "Choose Approve or This wasn't me.");
    };
    let input = push::Answer {
        decision,
        number: given(&form.number).map(str::to_owned),
        signature: None,
    };
    match push::answer(&page.state, &page.client, &viewer.who, id, input).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(DomainError::InvalidCode) => bad(
            StatusCode::BAD_REQUEST,
            "That is not the number on the other screen: the request was refused. If it was you, sign in again.",
        ),
        Err(DomainError::NotFound) => bad(StatusCode::NOT_FOUND, "This request is no longer waiting."),
        Err(e) => bad(StatusCode::BAD_REQUEST, &message(&e)),
    }
}
