//! `GET /openapi.json`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi};

use crate::state::AppState;

/// The document describes itself too, so that it covers every endpoint.
pub fn add_self(api: &mut OpenApi) {
    let op = OperationBuilder::new()
        .summary(Some("This OpenAPI 3.1 document"))
        .operation_id(Some("openapi"))
        .tag("service")
        .response(
            "200",
            ResponseBuilder::new()
                .description("The OpenAPI document")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new()))
                        .build(),
                ),
        )
        .build();
    api.paths.paths.insert(
        "/openapi.json".to_owned(),
        PathItem::new(HttpMethod::Get, op),
    );
}

/// Where a creation leads (OpenAPI links): the id that `POST from` answers with 201 fills the
/// path parameter of the same name of `to`. Clients and stateful test generators (schemathesis)
/// follow them. (from, to, to's method, the id)
const LINKS: &[(&str, &str, &str, &str)] = &[
    ("/v1/teams", "/v1/teams/{id}", "get", "id"),
    ("/v1/teams", "/v1/teams/{id}/members", "post", "id"),
    ("/v1/me/api-keys", "/v1/me/api-keys/{id}", "delete", "id"),
    (
        "/v1/admin/clients",
        "/v1/admin/clients/{client_id}/secret",
        "post",
        "client_id",
    ),
    (
        "/v1/admin/clients",
        "/v1/admin/clients/{client_id}",
        "delete",
        "client_id",
    ),
    (
        "/v1/me/mfa/totp",
        "/v1/me/mfa/{method_id}/confirm",
        "post",
        "method_id",
    ),
    (
        "/v1/me/mfa/totp",
        "/v1/me/mfa/{method_id}",
        "delete",
        "method_id",
    ),
    (
        "/v1/me/mfa/email",
        "/v1/me/mfa/{method_id}/confirm",
        "post",
        "method_id",
    ),
    (
        "/v1/me/mfa/email",
        "/v1/me/mfa/{method_id}/resend",
        "post",
        "method_id",
    ),
    (
        "/v1/me/mfa/webauthn",
        "/v1/me/mfa/{method_id}/confirm",
        "post",
        "method_id",
    ),
];

/// Adds [`LINKS`] to the answers they start from, in the rendered document (utoipa writes a
/// link's fields in snake case, where OpenAPI spells them `operationRef` and `parameters`).
pub fn add_links(doc: &mut serde_json::Value) {
    for (from, to, method, id) in LINKS {
        let created = &mut doc["paths"][*from]["post"]["responses"]["201"];
        if !created.is_object() {
            continue;
        }
        // a JSON pointer to the target operation: "/" is written "~1"
        let target = format!("#/paths/{}/{method}", to.replace('/', "~1"));
        let name = format!("{method}{}", to.replace(['/', '{', '}'], "_"));
        created["links"][name] = serde_json::json!({
            "operationRef": target,
            "parameters": { *id: format!("$response.body#/{id}") },
        });
    }
}

pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
}
