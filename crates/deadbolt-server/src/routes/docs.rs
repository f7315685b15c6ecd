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

/// Where the server API leads: a subject made by `PUT` (201), a method started (201), a check
/// opened (201). Each target's path parameters come from the request that made the thing (the
/// subject's name) and its answer (the new id). (from, from's method, to, to's method, the
/// parameters and where each comes from)
type Link = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The subject of the request a link starts from; from `PUT`, its answer names it too.
const SUBJECT: &str = "$request.path.external_id";
const MADE: &str = "$response.body#/external_id";

const SUBJECT_LINKS: &[Link] = &[
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}",
        "get",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}/mfa/totp",
        "post",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}/mfa/email",
        "post",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}/challenges",
        "post",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}",
        "delete",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}/mfa",
        "get",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}/mfa/primary",
        "put",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}",
        "put",
        "/v1/subjects/{external_id}/mfa/recovery-codes",
        "post",
        &[("external_id", MADE)],
    ),
    (
        "/v1/subjects/{external_id}/mfa/totp",
        "post",
        "/v1/subjects/{external_id}/mfa/{method_id}/confirm",
        "post",
        &[
            ("external_id", SUBJECT),
            ("method_id", "$response.body#/method_id"),
        ],
    ),
    (
        "/v1/subjects/{external_id}/mfa/email",
        "post",
        "/v1/subjects/{external_id}/mfa/{method_id}/resend",
        "post",
        &[
            ("external_id", SUBJECT),
            ("method_id", "$response.body#/method_id"),
        ],
    ),
    (
        "/v1/subjects/{external_id}/challenges",
        "post",
        "/v1/subjects/{external_id}/challenges/{challenge_id}/verify",
        "post",
        &[
            ("external_id", SUBJECT),
            ("challenge_id", "$response.body#/challenge_id"),
        ],
    ),
    (
        "/v1/subjects/{external_id}/challenges",
        "post",
        "/v1/subjects/{external_id}/challenges/{challenge_id}/send",
        "post",
        &[
            ("external_id", SUBJECT),
            ("challenge_id", "$response.body#/challenge_id"),
        ],
    ),
];

/// Adds [`SUBJECT_LINKS`] to the 201 answers they start from.
pub fn add_subject_links(doc: &mut serde_json::Value) {
    for (from, from_method, to, method, params) in SUBJECT_LINKS {
        let created = &mut doc["paths"][*from][*from_method]["responses"]["201"];
        if !created.is_object() {
            continue;
        }
        let target = format!("#/paths/{}/{method}", to.replace('/', "~1"));
        let name = format!("{method}{}", to.replace(['/', '{', '}'], "_"));
        let parameters: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .map(|(name, expr)| ((*name).to_owned(), serde_json::json!(expr)))
            .collect();
        created["links"][name] = serde_json::json!({
            "operationRef": target,
            "parameters": parameters,
        });
    }
}

pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
}
