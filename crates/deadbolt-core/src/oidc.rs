//! OpenID Connect sign-ins: what an authorization request may ask for, when a browser session
//! answers it as it is and when the person must sign in or step up first, and PKCE. Every rule
//! is a pure function.

use crate::oidc_client::SCOPES;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// An authorization code lives this long (OAuth 2.0 Security BCP: short, single use).
pub const CODE_TTL: Duration = Duration::seconds(60);
/// An authorization request waits this long for the person to sign in.
pub const REQUEST_TTL: Duration = Duration::minutes(30);
/// An ID token is good for this long; it is proof of a sign-in, not a credential.
pub const ID_TOKEN_TTL: Duration = Duration::minutes(10);
/// The longest `state`, `nonce` or `login_hint` accepted (they are stored and sent back).
pub const MAX_PARAM: usize = 512;

/// An assurance level: what `acr` says and `acr_values` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Aal1,
    Aal2,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// A level by one of its names: the short ones tokens carry, Deadbolt's URNs, and the
    /// OpenID PAPE multi-factor policy that many relying parties send.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "aal1" | "urn:deadbolt:acr:aal1" => Some(Self::Aal1),
            "aal2"
            | "urn:deadbolt:acr:aal2"
            | "http://schemas.openid.net/pape/policies/2007/06/multi-factor" => Some(Self::Aal2),
            _ => None,
        }
    }

    /// What `acr_values` asks for: the first value this service knows (they come in order of
    /// preference); unknown ones are passed over, as a voluntary claim allows.
    pub fn requested(acr_values: Option<&str>) -> Self {
        Self::requested_name(acr_values)
            .and_then(Self::parse)
            .unwrap_or(Self::Aal1)
    }

    /// The first value of `acr_values` this service knows, by the name the client used.
    pub fn requested_name(acr_values: Option<&str>) -> Option<&str> {
        acr_values
            .unwrap_or_default()
            .split_whitespace()
            .find(|v| Self::parse(v).is_some())
    }
}

/// The names a discovery document lists in `acr_values_supported`.
pub const ACR_VALUES: [&str; 5] = [
    "aal1",
    "aal2",
    "urn:deadbolt:acr:aal1",
    "urn:deadbolt:acr:aal2",
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
];

/// The `prompt` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prompt {
    /// Never show a page: answer with an error where one would be needed.
    pub none: bool,
    /// Sign in again, whatever session there is.
    pub login: bool,
    /// Ask for consent again, even when it was given before.
    pub consent: bool,
}

impl Prompt {
    /// Parses `prompt`; `none` with anything else is an error, as OpenID Connect Core says.
    /// `select_account` is accepted and means nothing here (one account per browser).
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let mut p = Self::default();
        let mut count = 0;
        for v in raw.unwrap_or_default().split_whitespace() {
            count += 1;
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => {}
                _ => return Err("prompt: unknown value"),
            }
        }
        if p.none && count > 1 {
            return Err("prompt: none cannot be combined with other values");
        }
        Ok(p)
    }

    /// As stored: space-separated, `none` left out (it only matters on the first visit).
    pub fn stored(self) -> String {
        let mut v = Vec::new();
        if self.login {
            v.push("login");
        }
        if self.consent {
            v.push("consent");
        }
        v.join(" ")
    }
}

/// The scopes of a request, each known and allowed to the client, `openid` among them; in a
/// fixed order and without repeats.
pub fn scopes(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, &'static str> {
    let asked: Vec<&str> = requested.unwrap_or_default().split_whitespace().collect();
    if !asked.contains(&"openid") {
        return Err("scope: openid is required");
    }
    if asked.iter().any(|s| !SCOPES.contains(s)) {
        return Err("scope: a scope this service does not offer");
    }
    if asked.iter().any(|s| !allowed.iter().any(|a| a == s)) {
        return Err("scope: a scope this client is not allowed");
    }
    Ok(SCOPES
        .iter()
        .filter(|s| asked.contains(s))
        .map(|s| (*s).to_owned())
        .collect())
}

/// A PKCE S256 challenge: 43 base64url characters (a SHA-256 digest).
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|d| d.len() == 32)
}

/// Whether `verifier` (RFC 7636: 43 to 128 unreserved characters) answers `challenge`.
pub fn verifies_s256(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    // compared whole and in constant time; a malformed verifier fails after the same work
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) && well_formed
}

/// The authentication a browser session can show: when it last proved itself, and how well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
    pub level: Level,
}

/// What an authorization request demands of the authentication behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// `prompt=login`: a sign-in after the request was made.
    pub fresh_sign_in: bool,
    pub max_age: Option<i64>,
    pub level: Level,
    pub requested_at: OffsetDateTime,
}

/// What must happen before a code can be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// The session's authentication serves as it is.
    Nothing,
    /// A new sign-in on the sign-in page.
    SignIn,
    /// A fresh check on this session: the second factor, or the password of an account
    /// without one (which cannot reach `aal2`).
    StepUp,
}

/// Whether `auth` serves `demand` at `now`.
pub fn needed(demand: &Demand, auth: &Authentication, now: OffsetDateTime) -> Needed {
    if demand.fresh_sign_in && auth.auth_time < demand.requested_at {
        return Needed::SignIn;
    }
    // an authentication made for this very request serves any max_age (even 0)
    let too_old = demand
        .max_age
        .is_some_and(|max| now - auth.auth_time > Duration::seconds(max))
        && auth.auth_time < demand.requested_at;
    if too_old || auth.level < demand.level {
        return Needed::StepUp;
    }
    Needed::Nothing
}

/// The authentication of a session that also passed a step-up: the later time, what both
/// proved, and `aal2` when together they are two factors of different kinds (a password and a
/// possession factor), as one sign-in with both would be.
pub fn after_step_up(
    session: &Authentication,
    check_time: OffsetDateTime,
    check_amr: &[String],
) -> Authentication {
    let mut amr: Vec<String> = session
        .amr
        .iter()
        .filter(|v| *v != "mfa")
        .cloned()
        .collect();
    for v in check_amr {
        if v != "mfa" && !amr.contains(v) {
            amr.push(v.clone());
        }
    }
    let knows = amr.iter().any(|v| v == "pwd");
    let has = amr
        .iter()
        .any(|v| matches!(v.as_str(), "otp" | "sms" | "tel" | "hwk" | "swk"));
    let either_was_mfa = session.level == Level::Aal2 || check_amr.iter().any(|v| v == "mfa");
    let level = if (knows && has) || either_was_mfa {
        amr.push("mfa".to_owned());
        Level::Aal2
    } else {
        Level::Aal1
    };
    Authentication {
        auth_time: check_time.max(session.auth_time),
        amr,
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).unwrap()
    }

    fn auth(time: i64, level: Level) -> Authentication {
        Authentication {
            auth_time: at(time),
            amr: vec!["pwd".into()],
            level,
        }
    }

    fn demand() -> Demand {
        Demand {
            fresh_sign_in: false,
            max_age: None,
            level: Level::Aal1,
            requested_at: at(100),
        }
    }

    #[test]
    fn a_session_serves_unless_the_request_asks_for_more() {
        assert_eq!(
            needed(&demand(), &auth(0, Level::Aal1), at(200)),
            Needed::Nothing
        );
        let aal2 = Demand {
            level: Level::Aal2,
            ..demand()
        };
        assert_eq!(
            needed(&aal2, &auth(0, Level::Aal1), at(200)),
            Needed::StepUp
        );
        assert_eq!(
            needed(&aal2, &auth(0, Level::Aal2), at(200)),
            Needed::Nothing
        );
    }

    #[test]
    fn max_age_counts_from_the_last_authentication() {
        let d = Demand {
            max_age: Some(60),
            ..demand()
        };
        assert_eq!(
            needed(&d, &auth(140, Level::Aal1), at(200)),
            Needed::Nothing
        );
        assert_eq!(needed(&d, &auth(99, Level::Aal1), at(200)), Needed::StepUp);
        let zero = Demand {
            max_age: Some(0),
            ..demand()
        };
        assert_eq!(
            needed(&zero, &auth(200, Level::Aal2), at(200)),
            Needed::Nothing
        );
        assert_eq!(
            needed(&zero, &auth(99, Level::Aal2), at(200)),
            Needed::StepUp
        );
        // authenticated after the request was made: that authentication answers it
        assert_eq!(
            needed(&zero, &auth(150, Level::Aal2), at(200)),
            Needed::Nothing
        );
    }

    #[test]
    fn prompt_login_wants_a_sign_in_after_the_request() {
        let d = Demand {
            fresh_sign_in: true,
            ..demand()
        };
        assert_eq!(needed(&d, &auth(99, Level::Aal2), at(200)), Needed::SignIn);
        assert_eq!(
            needed(&d, &auth(100, Level::Aal1), at(200)),
            Needed::Nothing
        );
    }

    #[test]
    fn a_password_session_stepped_up_with_a_code_is_two_factors() {
        let s = auth(0, Level::Aal1);
        let after = after_step_up(&s, at(50), &["otp".to_owned()]);
        assert_eq!(after.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(after.level, Level::Aal2);
        assert_eq!(after.auth_time, at(50));
        // a password check on a password session is still one factor
        let again = after_step_up(&s, at(50), &["pwd".to_owned()]);
        assert_eq!(again.amr, ["pwd"]);
        assert_eq!(again.level, Level::Aal1);
        // a passkey session checked with a code stays two factors, listed once
        let passkey = Authentication {
            auth_time: at(0),
            amr: vec!["swk".into(), "user".into(), "mfa".into()],
            level: Level::Aal2,
        };
        let after = after_step_up(&passkey, at(9), &["otp".to_owned()]);
        assert_eq!(after.amr, ["swk", "user", "otp", "mfa"]);
        assert_eq!(after.level, Level::Aal2);
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(verifies_s256(verifier, challenge));
        assert!(!verifies_s256(&verifier.replace('d', "e"), challenge));
        assert!(!verifies_s256("short", challenge));
        assert!(!is_s256_challenge("plain-challenge"));
    }

    #[test]
    fn scopes_need_openid_and_the_clients_leave() {
        let allowed: Vec<String> = ["openid", "email"].iter().map(|s| (*s).into()).collect();
        assert_eq!(
            scopes(Some("email openid email"), &allowed).unwrap(),
            ["openid", "email"]
        );
        assert!(scopes(Some("email"), &allowed).is_err());
        assert!(scopes(Some("openid phone"), &allowed).is_err());
        assert!(scopes(Some("openid admin"), &allowed).is_err());
        assert!(scopes(None, &allowed).is_err());
    }

    #[test]
    fn prompt_none_stands_alone_and_acr_values_take_the_first_known() {
        assert!(Prompt::parse(Some("none")).unwrap().none);
        assert!(Prompt::parse(Some("none login")).is_err());
        assert!(Prompt::parse(Some("bogus")).is_err());
        let p = Prompt::parse(Some("login consent")).unwrap();
        assert_eq!(p.stored(), "login consent");
        assert_eq!(Level::requested(Some("gold aal2 aal1")), Level::Aal2);
        assert_eq!(Level::requested(Some("aal1 aal2")), Level::Aal1);
        assert_eq!(Level::requested(Some("gold")), Level::Aal1);
        assert_eq!(
            Level::requested(Some(
                "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
            )),
            Level::Aal2
        );
    }
}
