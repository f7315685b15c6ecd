//! The OpenID Connect endpoints a client's server talks to: discovery, the token endpoint,
//! userinfo, revocation and introspection. They speak OAuth's own formats (form posts in,
//! `{"error", "error_description"}` out) rather than problem+json, as the standards require;
//! faults of the service itself (a busy store) still answer as the API does. The browser's
//! side (authorization, consent, logout) is `pages::oidc`.

use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use deadbolt_core::device_grant;
use deadbolt_core::oidc::ACR_VALUES;
use deadbolt_core::oidc_client::SCOPES;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::oidc::device;
use deadbolt_usecases::oidc::exchange::{self, TokenParams};
use deadbolt_usecases::oidc::{
    self, revocation, userinfo, ClientCredentials, OAuthError, OidcError,
};
use serde::de::DeserializeOwned;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/token", post(token))
        .route("/oauth2/device_authorization", post(device_authorization))
        .route("/oauth2/userinfo", get(userinfo_get).post(userinfo_post))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
}

/// OpenID Connect Discovery 1.0: where everything is and what is supported.
async fn discovery(State(state): State<AppState>) -> Response {
    let iss = oidc::issuer(&state);
    let at = |path: &str| format!("{iss}{path}");
    let client_auth = ["client_secret_basic", "client_secret_post", "none"];
    let body = json!({
        "issuer": iss,
        "authorization_endpoint": at("/oauth2/authorize"),
        "token_endpoint": at("/oauth2/token"),
        "userinfo_endpoint": at("/oauth2/userinfo"),
        "jwks_uri": at("/.well-known/jwks.json"),
        "revocation_endpoint": at("/oauth2/revoke"),
        "introspection_endpoint": at("/oauth2/introspect"),
        "end_session_endpoint": at("/oauth2/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "device_authorization_endpoint": at("/oauth2/device_authorization"),
        "grant_types_supported": ["authorization_code", "refresh_token", device_grant::GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": ACR_VALUES,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
            "email", "email_verified", "phone_number", "phone_number_verified"
        ],
        "claims_parameter_supported": false,
        // signed request objects, by value (RFC 9101), with keys the client registered
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(body),
    )
        .into_response()
}

/// An OAuth error response: 401 for a client that failed to authenticate (with a
/// `WWW-Authenticate` challenge when it tried Basic), 400 otherwise.
fn oauth_error(e: OidcError, basic: bool) -> Response {
    let e = match e {
        OidcError::OAuth(e) => e,
        OidcError::Domain(d) => return ApiError::from(d).into_response(),
    };
    let status = if e.code == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(json!({"error": e.code, "error_description": e.description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && basic {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"deadbolt\""),
        );
    }
    response
}

/// A form body, refusing a parameter given twice (RFC 6749 section 3.2) and anything that is
/// not a form.
fn form<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form does not parse"))?;
    let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(OAuthError::invalid_request(
            "a parameter was given more than once",
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form does not parse"))
}

#[derive(serde::Deserialize)]
struct ClientFields {
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The client's credentials: the Basic header (its parts form-encoded, RFC 6749 section
/// 2.3.1), or `client_id` and `client_secret` in the form. Whether Basic was used, for the 401.
fn credentials(
    headers: &HeaderMap,
    fields: ClientFields,
) -> Result<(ClientCredentials, bool), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let Some(encoded) = basic else {
        return Ok((
            ClientCredentials {
                client_id: fields.client_id,
                secret: fields.client_secret.map(Secret::new),
                ..Default::default()
            },
            false,
        ));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let unescape = |s: &str| -> Option<String> {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok((
        ClientCredentials {
            client_id: unescape(id),
            secret: unescape(secret).map(Secret::new),
            form_client_id: fields.client_id,
            two_methods: fields.client_secret.is_some(),
        },
        true,
    ))
}

fn client_of(headers: &HeaderMap, body: &Bytes) -> Result<(ClientCredentials, bool), OAuthError> {
    let fields: ClientFields = form(headers, body)?;
    credentials(headers, fields)
}

/// A client's form request: its credentials, whether Basic was used, and the form's own
/// fields; or the error, with whether Basic was used.
fn client_request<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(ClientCredentials, bool, T), (OAuthError, bool)> {
    let (creds, basic) = client_of(headers, body).map_err(|e| (e, false))?;
    let params = form(headers, body).map_err(|e| (e, basic))?;
    Ok((creds, basic, params))
}

async fn token(
    State(state): State<AppState>,
    Client(info): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (creds, basic, params): (_, _, TokenParams) = match client_request(&headers, &body) {
        Ok(r) => r,
        Err((e, basic)) => return oauth_error(e.into(), basic),
    };
    match exchange::exchange(&state, &info, &creds, params).await {
        Ok(issued) => {
            let mut body = json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            });
            if let Some(id_token) = &issued.id_token {
                body["id_token"] = id_token.as_str().into();
            }
            if let Some(refresh) = &issued.refresh_token {
                body["refresh_token"] = refresh.expose().into();
            }
            (
                [
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (header::PRAGMA, HeaderValue::from_static("no-cache")),
                ],
                Json(body),
            )
                .into_response()
        }
        Err(e) => oauth_error(e, basic),
    }
}

#[derive(serde::Deserialize)]
struct DeviceAuthorizationForm {
    scope: Option<String>,
}

/// RFC 8628 section 3.1: a device asks for a sign-in; it is told what to show its person and
/// how to poll.
async fn device_authorization(
    State(state): State<AppState>,
    Client(info): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (creds, basic, params): (_, _, DeviceAuthorizationForm) =
        match client_request(&headers, &body) {
            Ok(r) => r,
            Err((e, basic)) => return oauth_error(e.into(), basic),
        };
    match device::start(&state, &info, &creds, params.scope.as_deref()).await {
        Ok(started) => {
            let verification_uri = format!("{}/device", oidc::issuer(&state));
            let shown = started.user_code.display();
            let body = json!({
                "device_code": started.device_code.expose(),
                "user_code": shown,
                "verification_uri": verification_uri,
                "verification_uri_complete": format!("{verification_uri}?user_code={shown}"),
                "expires_in": started.expires_in,
                "interval": started.interval,
            });
            (
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                Json(body),
            )
                .into_response()
        }
        Err(e) => oauth_error(e, basic),
    }
}

/// A userinfo failure as RFC 6750 says: a `WWW-Authenticate: Bearer` challenge with the code.
fn bearer_error(e: OidcError) -> Response {
    let e = match e {
        OidcError::OAuth(e) => e,
        OidcError::Domain(d) => return ApiError::from(d).into_response(),
    };
    let status = if e.code == "insufficient_scope" {
        StatusCode::FORBIDDEN
    } else if e.code == "invalid_request" {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNAUTHORIZED
    };
    let challenge = format!(
        "Bearer error=\"{}\", error_description=\"{}\"",
        e.code,
        e.description.replace(['"', '\\'], "")
    );
    let mut response = (
        status,
        Json(json!({"error": e.code, "error_description": e.description})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

async fn answer_userinfo(state: &AppState, token: Option<String>) -> Response {
    let Some(token) = token else {
        // no credentials at all: a bare challenge (RFC 6750 section 3.1)
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"deadbolt\""),
        );
        return r;
    };
    match userinfo::userinfo(state, &token).await {
        Ok(claims) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(claims),
        )
            .into_response(),
        Err(e) => bearer_error(e),
    }
}

async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer_userinfo(&state, bearer(&headers)).await
}

#[derive(serde::Deserialize)]
struct UserinfoForm {
    access_token: Option<String>,
}

async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let from_header = bearer(&headers);
    if body.is_empty() {
        return answer_userinfo(&state, from_header).await;
    }
    let from_form = match form::<UserinfoForm>(&headers, &body) {
        Ok(f) => f.access_token,
        Err(e) => return bearer_error(e.into()),
    };
    if from_header.is_some() && from_form.is_some() {
        return bearer_error(OAuthError::invalid_request("send the token once").into());
    }
    answer_userinfo(&state, from_header.or(from_form)).await
}

#[derive(serde::Deserialize)]
struct TokenForm {
    token: Option<String>,
}

/// A revocation or introspection request: the client's credentials (and whether Basic was
/// used) and the token; or the error, with whether Basic was used.
type TokenRequest = (ClientCredentials, bool, Option<String>);

fn token_request(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, (OAuthError, bool)> {
    let (creds, basic, fields) = client_request::<TokenForm>(headers, body)?;
    Ok((creds, basic, fields.token))
}

async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (creds, basic, token) = match token_request(&headers, &body) {
        Ok(r) => r,
        Err((e, basic)) => return oauth_error(e.into(), basic),
    };
    match revocation::revoke(&state, &creds, token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(e, basic),
    }
}

async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (creds, basic, token) = match token_request(&headers, &body) {
        Ok(r) => r,
        Err((e, basic)) => return oauth_error(e.into(), basic),
    };
    match revocation::introspect(&state, &creds, token).await {
        Ok(v) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(v),
        )
            .into_response(),
        Err(e) => oauth_error(e, basic),
    }
}
