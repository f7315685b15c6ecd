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

/// Where an answer leads (OpenAPI links): the id a creation returns is the path parameter of
/// what can be done with the created thing next. Clients and stateful test generators
/// (schemathesis) follow them. (from path, from method, status, to path, to method, parameter,
/// the answer's field that fills it)
const LINKS: &[(&str, HttpMethod, &str, &str, HttpMethod, &str, &str)] = &[
    (
        "/v1/teams",
        HttpMethod::Post,
        "201",
        "/v1/teams/{id}",
        HttpMethod::Get,
        "id",
        "id",
    ),
    (
        "/v1/teams",
        HttpMethod::Post,
        "201",
        "/v1/teams/{id}/members",
        HttpMethod::Post,
        "id",
        "id",
    ),
    (
        "/v1/me/api-keys",
        HttpMethod::Post,
        "201",
        "/v1/me/api-keys/{id}",
        HttpMethod::Delete,
        "id",
        "id",
    ),
    (
        "/v1/me/mfa/totp",
        HttpMethod::Post,
        "201",
        "/v1/me/mfa/{method_id}/confirm",
        HttpMethod::Post,
        "method_id",
        "method_id",
    ),
    (
        "/v1/me/mfa/totp",
        HttpMethod::Post,
        "201",
        "/v1/me/mfa/{method_id}",
        HttpMethod::Delete,
        "method_id",
        "method_id",
    ),
    (
        "/v1/me/mfa/email",
        HttpMethod::Post,
        "201",
        "/v1/me/mfa/{method_id}/confirm",
        HttpMethod::Post,
        "method_id",
        "method_id",
    ),
    (
        "/v1/me/mfa/email",
        HttpMethod::Post,
        "201",
        "/v1/me/mfa/{method_id}/resend",
        HttpMethod::Post,
        "method_id",
        "method_id",
    ),
    (
        "/v1/me/mfa/webauthn",
        HttpMethod::Post,
        "201",
        "/v1/me/mfa/{method_id}/confirm",
        HttpMethod::Post,
        "method_id",
        "method_id",
    ),
];

/// Adds [`LINKS`] to the answers they start from, in the rendered document (utoipa writes a
/// link's fields in snake case, where OpenAPI spells them `operationRef` and `parameters`).
pub fn add_links(doc: &mut serde_json::Value) {
    for (from, from_method, status, to, to_method, parameter, field) in LINKS {
        let response = &mut doc["paths"][*from][method_name(from_method)]["responses"][*status];
        if !response.is_object() {
            continue;
        }
        // a JSON pointer to the target operation: "/" is written "~1"
        let target = format!(
            "#/paths/{}/{}",
            to.replace('/', "~1"),
            method_name(to_method)
        );
        let name = format!(
            "{}{}",
            method_name(to_method),
            to.replace(['/', '{', '}'], "_")
        );
        response["links"][name] = serde_json::json!({
            "operationRef": target,
            "parameters": { *parameter: format!("$response.body#/{field}") },
        });
    }
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Delete => "delete",
        HttpMethod::Put => "put",
        HttpMethod::Patch => "patch",
        _ => "other",
    }
}

pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
}
