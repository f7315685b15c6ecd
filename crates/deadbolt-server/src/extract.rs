//! Extractors: every request is parsed and authenticated into typed values here, before a
//! handler runs, and every failure becomes our problem+json.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::client::{ClientInfo, Principal};
use deadbolt_usecases::subject_api::ApiClient;
use deadbolt_usecases::DomainError;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// A JSON body. Wrong content type, malformed JSON, unknown fields (our request types deny
/// them) and wrong types are 400 `invalid_request`; bodies over the limit are 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::invalid_request(
                "expected Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))
    }
}

/// A JSON body that may also be left empty (then `T::default()`).
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let has_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|len| len != "0");
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        if !has_type {
            let bytes = read_body(req, state).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(T::default()));
            }
            return Err(ApiError::invalid_request(
                "expected Content-Type: application/json",
            ));
        }
        if !has_body {
            return Ok(Self(T::default()));
        }
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(v)| Self(v))
    }
}

/// For endpoints that take no input: an empty body or `{}`.
pub struct EmptyBody;

impl<S: Send + Sync> FromRequest<S> for EmptyBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(EmptyBody);
        }
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
            Ok(map) if map.is_empty() => Ok(EmptyBody),
            Ok(_) => Err(ApiError::invalid_request("this endpoint takes no fields")),
            Err(e) => Err(ApiError::invalid_request(format!("invalid JSON body: {e}"))),
        }
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::invalid_request("cannot read the request body")
        }
    })
}

/// Where a request came from (the TCP peer, or the client a trusted proxy names) and its user
/// agent, as the use cases take it.
pub struct Client(pub ClientInfo);

/// Long enough for any real browser's User-Agent; bounds what we store.
const MAX_USER_AGENT: usize = 512;

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let ip = peer.map(|p| client_ip(p, &forwarded, &state.trusted_proxies));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Ok(Self(ClientInfo { ip, user_agent }))
    }
}

/// Walks `X-Forwarded-For` from the right while the hop we got it from is a trusted proxy: the
/// first address not ours is the client. Anything a client wrote further left is ignored. An
/// IPv4 address in IPv6 form (`::ffff:10.1.2.3`, from a dual-stack listener) is taken as IPv4,
/// so that rules, throttles and events see one form.
pub fn client_ip(peer: IpAddr, forwarded: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut current = peer.to_canonical();
    for hop in forwarded.iter().rev() {
        if !is_trusted(&current) {
            break;
        }
        match hop.parse::<IpAddr>() {
            Ok(ip) => current = ip.to_canonical(),
            Err(_) => break,
        }
    }
    current
}

/// A signed-in caller: a valid bearer access token whose session is still live, allowed where
/// it is (location rules) and, for a session that may only enroll a second factor, only on the
/// enrolment calls.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(DomainError::InvalidToken)?;
        let who = deadbolt_usecases::sessions::authenticate(state, token).await?;
        // where policy does not let the account's roles sign in, a token held from before is no
        // good either: every authenticated call, the admin API and step-up first
        // (ending the session is allowed from anywhere)
        let Client(client) = Client::from_request_parts(parts, state).await?;
        if !(parts.method == axum::http::Method::POST && parts.uri.path() == "/v1/logout") {
            deadbolt_usecases::risk::ensure_session_location_allowed(state, &client, &who.session)
                .await?;
        }
        if who.session.enrollment_only && !enrollment_allows(&parts.method, parts.uri.path()) {
            return Err(DomainError::EnrollmentRequired.into());
        }
        Ok(Self(who))
    }
}

/// What a session that may only enroll a second factor can call (API.md: `GET /v1/me`,
/// `/v1/me/mfa` and the enrolment endpoints), and signing out.
fn enrollment_allows(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (&Method::GET, ["", "v1", "me"] | ["", "v1", "me", "mfa"]) => true,
        (&Method::POST, ["", "v1", "logout"]) => true,
        (&Method::POST, ["", "v1", "me", "mfa", kind]) => {
            ["totp", "email", "sms", "voice", "webauthn", "push"].contains(kind)
        }
        (&Method::POST, ["", "v1", "me", "mfa", _, "confirm" | "resend"]) => true,
        // a push approver enrolled by this session answers the sign-in that comes next
        (&Method::GET, ["", "v1", "me", "approvals"]) => true,
        (&Method::POST, ["", "v1", "me", "approvals", _]) => true,
        // a session past its recent sign-in proves itself again before enrolling
        (&Method::POST, ["", "v1", "step-up"] | ["", "v1", "step-up", "challenge" | "verify"]) => {
            true
        }
        _ => false,
    }
}

/// A client calling the server API (`/v1/subjects`): HTTP Basic with a live confidential
/// client's id and secret, checked as the token endpoint checks them. Anything else is 401
/// `invalid_client` with `WWW-Authenticate: Basic`; wrong secrets count against the caller's
/// address (see `subject_api::authenticate`).
pub struct ClientCaller(pub ApiClient);

impl FromRequestParts<AppState> for ClientCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Client(info) = Client::from_request_parts(parts, state).await?;
        // no credentials, or none that parse: nothing was guessed, nothing is counted
        let (id, secret) = basic_credentials(parts).ok_or(DomainError::InvalidClient)?;
        let client =
            deadbolt_usecases::subject_api::authenticate(state, &info, &id, &secret).await?;
        Ok(Self(client))
    }
}

/// The id and secret of an `Authorization: Basic` header (RFC 7617).
fn basic_credentials(parts: &Parts) -> Option<(String, Secret)> {
    use base64::Engine as _;
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = Secret::new(String::from_utf8(decoded).ok()?);
    let (id, secret) = decoded.expose().split_once(':')?;
    Some((id.to_owned(), Secret::new(secret)))
}

/// A path parameter; a malformed one (not a UUID, say) is 400 `invalid_request`.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| ApiError::invalid_request("malformed path parameter: ids are UUIDs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = ["6.6.6.6", "203.0.113.9"];
        assert_eq!(
            client_ip(proxy, &xff, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &xff, &trusted), stranger);
        assert_eq!(client_ip(proxy, &["garbage"], &trusted), proxy);
        let chain = ["203.0.113.9", "10.0.0.7"];
        assert_eq!(
            client_ip(proxy, &chain, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // IPv4 in IPv6 form, as a dual-stack listener reports it, is IPv4 throughout
        let mapped_proxy: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        assert_eq!(
            client_ip(mapped_proxy, &["::ffff:203.0.113.9"], &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }
}
