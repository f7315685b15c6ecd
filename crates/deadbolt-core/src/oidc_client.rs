//! OpenID Connect relying parties ("clients"): what one may be registered with. Every rule is a
//! pure function; a problem names the field it is about.
//!
//! Redirect URIs are compared later by exact string match (OAuth 2.0 Security BCP), so they
//! are checked here and then kept exactly as given, never normalised.

use crate::random::{Random, RandomExt};
use crate::secret::Secret;
use crate::token;
use crate::CoreError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

/// Every client id starts so.
pub const CLIENT_ID_PREFIX: &str = "dbc_";
/// Every client secret starts so, which makes leaked ones easy to find by secret scanners.
pub const SECRET_PREFIX: &str = "dbcs_";
/// The scopes a client may be allowed, and its default.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "phone", "offline_access"];
const MAX_NAME: usize = 100;
const MAX_URI: usize = 2000;
const MAX_URIS: usize = 20;

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
}

impl Grant {
    pub const ALL: [Grant; 3] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::DeviceCode,
    ];
    pub const DEFAULT: [Grant; 2] = [Self::AuthorizationCode, Self::RefreshToken];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "device_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// How the client's ID tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlg {
    EdDsa,
    /// The default: OpenID Connect's own default, which every relying-party library expects
    /// unless told otherwise.
    #[default]
    Rs256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::EdDsa, Self::Rs256]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// A client as asked for, unchecked.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret: the client proves nothing but PKCE (a native or browser app).
    pub public: bool,
    pub first_party: bool,
    /// None: [`Grant::DEFAULT`].
    pub grants: Option<Vec<String>>,
    /// None: every one of [`SCOPES`].
    pub scopes: Option<Vec<String>>,
    /// None: RS256, OpenID Connect's default.
    pub id_token_signed_response_alg: Option<String>,
    /// The public keys (a JWKS) it signs request objects with; a confidential client's only.
    pub jwks: Option<serde_json::Value>,
}

/// A client that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub grants: Vec<Grant>,
    pub scopes: Vec<String>,
    pub id_token_alg: SigningAlg,
    /// Its request-object keys, as given (their cryptography is checked where keys are read).
    pub jwks: Option<serde_json::Value>,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks every field; the first problem found names its field (`redirect_uris[1]`, …).
pub fn check(input: ClientInput) -> Result<ClientSettings, CoreError> {
    let name = check_name(&input.name)?;
    let grants = check_grants(input.grants)?;
    // a device that only uses the device grant (RFC 8628) is never redirected anywhere
    if input.redirect_uris.is_empty() && grants.contains(&Grant::AuthorizationCode) {
        return Err(invalid(
            "redirect_uris",
            "at least one redirect URI is needed for the authorization_code grant",
        ));
    }
    let redirect_uris = check_uris("redirect_uris", input.redirect_uris, input.public)?;
    let post_logout_redirect_uris = check_uris(
        "post_logout_redirect_uris",
        input.post_logout_redirect_uris,
        input.public,
    )?;
    let scopes = check_scopes(input.scopes)?;
    let id_token_alg = match input.id_token_signed_response_alg.as_deref() {
        None => SigningAlg::default(),
        Some(raw) => SigningAlg::parse(raw)
            .ok_or_else(|| invalid("id_token_signed_response_alg", "must be EdDSA or RS256"))?,
    };
    if input.public && input.jwks.is_some() {
        return Err(invalid(
            "jwks",
            "a public client cannot sign requests: only a confidential client registers keys",
        ));
    }
    Ok(ClientSettings {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        public: input.public,
        first_party: input.first_party,
        grants,
        scopes,
        id_token_alg,
        jwks: input.jwks,
    })
}

/// A client's name: 1 to 100 characters once trimmed, without control characters.
pub fn check_name(name: &str) -> Result<String, CoreError> {
    crate::name::trimmed(name, MAX_NAME).ok_or_else(|| {
        invalid(
            "name",
            "must be 1 to 100 characters, without control characters",
        )
    })
}

fn check_uris(field: &str, uris: Vec<String>, public: bool) -> Result<Vec<String>, CoreError> {
    if uris.len() > MAX_URIS {
        return Err(invalid(field, format!("at most {MAX_URIS} URIs")));
    }
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for (i, uri) in uris.into_iter().enumerate() {
        check_redirect_uri(&uri, public).map_err(|why| invalid(format!("{field}[{i}]"), why))?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// Whether `uri` may be a redirect URI: absolute, without a fragment, and `https`, or `http`
/// to a loopback host, or (for a public client) a private-use scheme with a dot, as RFC 8252
/// describes for native apps. The reason when not.
pub fn check_redirect_uri(uri: &str, public: bool) -> Result<(), &'static str> {
    if uri.is_empty() || uri.len() > MAX_URI {
        return Err("must be 1 to 2000 characters");
    }
    if uri.contains('#') {
        return Err("must not have a fragment");
    }
    if !uri.bytes().all(is_uri_byte) {
        return Err("has characters a URI may not hold (encode them with %)");
    }
    if !percent_escapes_are_whole(uri) {
        return Err("has a malformed %-escape");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("must be an absolute URI (with a scheme)");
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err("must be an absolute URI with a lowercase scheme");
    }
    match scheme {
        "https" => {
            let host = host_of(rest)?;
            if host.is_empty() {
                return Err("must name a host");
            }
            Ok(())
        }
        "http" => {
            let host = host_of(rest)?;
            if ["localhost", "127.0.0.1", "[::1]"].contains(&host.to_ascii_lowercase().as_str()) {
                Ok(())
            } else {
                Err("http is only for the loopback hosts localhost, 127.0.0.1 and [::1]; use https")
            }
        }
        _ if scheme.contains('.') => {
            if !public {
                return Err("a private-use scheme is only for public (native) clients");
            }
            if rest.is_empty() || rest.starts_with("//") {
                return Err(
                    "a private-use scheme URI needs a path, like com.example.app:/callback",
                );
            }
            Ok(())
        }
        _ => Err("must be https, http to a loopback host, or a private-use scheme with a dot"),
    }
}

/// The host of `//authority/...`, refusing user information and bad ports.
fn host_of(rest: &str) -> Result<&str, &'static str> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err("must be an absolute URI with a host (scheme://host/...)");
    };
    let authority = after.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not hold user information");
    }
    let (host, port) = if authority.starts_with('[') {
        match authority.split_once(']') {
            Some((inside, tail)) => (&authority[..inside.len() + 1], tail.strip_prefix(':')),
            None => return Err("has a malformed IPv6 host"),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err("has a malformed port");
        }
        if port.parse::<u32>().map_or(true, |p| p > 65_535) {
            return Err("has a malformed port");
        }
    }
    let host_ok = if host.starts_with('[') {
        host.len() > 2
            && host[1..host.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        host.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !host_ok {
        return Err("has a malformed host");
    }
    Ok(host)
}

/// RFC 3986's unreserved and reserved characters, and `%`.
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

fn percent_escapes_are_whole(uri: &str) -> bool {
    let bytes = uri.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn check_grants(grants: Option<Vec<String>>) -> Result<Vec<Grant>, CoreError> {
    let Some(raw) = grants else {
        return Ok(Grant::DEFAULT.to_vec());
    };
    let mut out = Vec::new();
    for (i, g) in raw.iter().enumerate() {
        let grant = Grant::parse(g).ok_or_else(|| {
            invalid(
                format!("grants[{i}]"),
                "must be authorization_code, refresh_token or device_code",
            )
        })?;
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    if out.is_empty() {
        return Err(invalid("grants", "at least one grant is needed"));
    }
    if out.contains(&Grant::RefreshToken)
        && !out.contains(&Grant::AuthorizationCode)
        && !out.contains(&Grant::DeviceCode)
    {
        return Err(invalid(
            "grants",
            "refresh_token needs authorization_code or device_code",
        ));
    }
    Ok(out)
}

fn check_scopes(scopes: Option<Vec<String>>) -> Result<Vec<String>, CoreError> {
    let Some(raw) = scopes else {
        return Ok(SCOPES.map(str::to_owned).to_vec());
    };
    let mut out: Vec<String> = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        if !SCOPES.contains(&s.as_str()) {
            return Err(invalid(
                format!("scopes[{i}]"),
                format!("must be one of {}", SCOPES.join(", ")),
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if !out.iter().any(|s| s == "openid") {
        return Err(invalid("scopes", "must include openid"));
    }
    Ok(out)
}

/// A fresh client id: `dbc_` and 128 random bits, unguessable and never reused.
pub fn generate_id(rng: &dyn Random) -> String {
    format!(
        "{CLIENT_ID_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rng.bytes::<16>())
    )
}

/// True when `raw` could be one of our client ids (anything else is unknown without a lookup).
pub fn looks_like_a_client_id(raw: &str) -> bool {
    raw.starts_with(CLIENT_ID_PREFIX)
        && raw.len() <= 64
        && raw[CLIENT_ID_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh client secret: `dbcs_` and the token module's 256 random bits.
pub fn generate_secret(rng: &dyn Random) -> Secret {
    token::generate(SECRET_PREFIX, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    fn input(uris: &[&str]) -> ClientInput {
        ClientInput {
            name: "  Shop  ".into(),
            redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
            ..ClientInput::default()
        }
    }

    fn field_of(e: CoreError) -> String {
        match e {
            CoreError::InvalidField { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_kept_as_given() {
        let c = check(input(&[
            "https://shop.example/cb?x=1",
            "https://shop.example/cb?x=1",
        ]))
        .unwrap();
        assert_eq!(c.name, "Shop");
        assert_eq!(c.redirect_uris, ["https://shop.example/cb?x=1"]);
        assert_eq!(c.grants, Grant::DEFAULT);
        assert_eq!(c.scopes, SCOPES);
        assert_eq!(c.id_token_alg, SigningAlg::Rs256);
        assert!(c.post_logout_redirect_uris.is_empty());
    }

    #[test]
    fn redirect_uris_accepted() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?a=b%20c",
            "http://localhost/cb",
            "http://localhost:3000/cb",
            "http://127.0.0.1:53682/",
            "http://[::1]:8080/cb",
        ] {
            assert_eq!(check_redirect_uri(ok, false), Ok(()), "{ok}");
        }
        assert_eq!(check_redirect_uri("com.example.app:/cb", true), Ok(()));
    }

    #[test]
    fn redirect_uris_refused() {
        for bad in [
            "",
            "/callback",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "http://localhost.evil.com/cb",
            "http://localhost@evil.com/cb",
            "http://127.0.0.1.evil.com/cb",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "https:///cb",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com:99999/cb",
            "https://app.example.com/a b",
            "https://app.example.com/%zz",
            "HTTPS://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "urn:ietf:wg:oauth:2.0:oob",
            "com.example.app://cb",
            "com.example.app:",
        ] {
            assert!(check_redirect_uri(bad, true).is_err(), "{bad}");
        }
        // a private-use scheme only for public clients
        assert!(check_redirect_uri("com.example.app:/cb", false).is_err());
        assert!(
            check_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000)), false).is_err()
        );
    }

    #[test]
    fn a_device_only_client_needs_no_redirect_uri() {
        let mut i = input(&[]);
        i.grants = Some(vec!["device_code".into(), "refresh_token".into()]);
        let c = check(i).unwrap();
        assert!(c.redirect_uris.is_empty());
        let mut i = input(&[]);
        i.grants = Some(vec!["authorization_code".into(), "device_code".into()]);
        assert_eq!(field_of(check(i).unwrap_err()), "redirect_uris");
    }

    #[test]
    fn each_problem_names_its_field() {
        assert_eq!(field_of(check(input(&[])).unwrap_err()), "redirect_uris");
        assert_eq!(
            field_of(check(input(&["https://a.example/", "http://a.example/"])).unwrap_err()),
            "redirect_uris[1]"
        );
        let mut i = input(&["https://a.example/"]);
        i.post_logout_redirect_uris = vec!["https://a.example/bye#x".into()];
        assert_eq!(
            field_of(check(i).unwrap_err()),
            "post_logout_redirect_uris[0]"
        );
        let mut i = input(&["https://a.example/"]);
        i.name = "x".repeat(101);
        assert_eq!(field_of(check(i).unwrap_err()), "name");
        let mut i = input(&["https://a.example/"]);
        i.name = "   ".into();
        assert_eq!(field_of(check(i).unwrap_err()), "name");
        let mut i = input(&["https://a.example/"]);
        i.grants = Some(vec!["authorization_code".into(), "implicit".into()]);
        assert_eq!(field_of(check(i).unwrap_err()), "grants[1]");
        let mut i = input(&["https://a.example/"]);
        i.grants = Some(vec!["refresh_token".into()]);
        assert_eq!(field_of(check(i).unwrap_err()), "grants");
        let mut i = input(&["https://a.example/"]);
        i.grants = Some(vec![]);
        assert_eq!(field_of(check(i).unwrap_err()), "grants");
        let mut i = input(&["https://a.example/"]);
        i.scopes = Some(vec!["profile".into()]);
        assert_eq!(field_of(check(i).unwrap_err()), "scopes");
        let mut i = input(&["https://a.example/"]);
        i.scopes = Some(vec!["openid".into(), "admin".into()]);
        assert_eq!(field_of(check(i).unwrap_err()), "scopes[1]");
        let mut i = input(&["https://a.example/"]);
        i.id_token_signed_response_alg = Some("none".into());
        assert_eq!(
            field_of(check(i).unwrap_err()),
            "id_token_signed_response_alg"
        );
    }

    #[test]
    fn grants_scopes_and_algorithms() {
        let mut i = input(&["https://a.example/"]);
        i.grants = Some(vec!["device_code".into(), "refresh_token".into()]);
        i.scopes = Some(vec!["openid".into(), "email".into(), "openid".into()]);
        i.id_token_signed_response_alg = Some("RS256".into());
        let c = check(i).unwrap();
        assert_eq!(c.grants, [Grant::DeviceCode, Grant::RefreshToken]);
        assert_eq!(c.scopes, ["openid", "email"]);
        assert_eq!(c.id_token_alg, SigningAlg::Rs256);
    }

    #[test]
    fn ids_and_secrets_are_random_and_prefixed() {
        let rng = SeededRandom::new(3);
        let (a, b) = (generate_id(&rng), generate_id(&rng));
        assert_ne!(a, b);
        assert!(a.starts_with("dbc_") && a.len() >= 24, "{a}");
        assert!(looks_like_a_client_id(&a));
        assert!(!looks_like_a_client_id("dbk_abc"));
        assert!(!looks_like_a_client_id("dbc_a/b"));
        let s = generate_secret(&rng);
        assert!(s.expose().starts_with("dbcs_") && s.expose().len() >= 45);
        assert_ne!(s.expose(), generate_secret(&rng).expose());
    }
}
