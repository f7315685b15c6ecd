//! One round trip: the authorization with the browser's session cookie, then the token
//! with PKCE.

use super::*;

/// The PKCE verifier and its S256 challenge, with a state and a nonce: fresh randomness for
/// every round trip, as a client makes them.
pub(super) struct Pkce {
    pub(super) verifier: String,
    pub(super) challenge: String,
    pub(super) state: String,
    pub(super) nonce: String,
}

impl Pkce {
    pub(super) fn new() -> Self {
        let mut bytes = [0u8; 56];
        OsRng.fill_bytes(&mut bytes);
        let (verifier, rest) = bytes.split_at(32);
        let (state, nonce) = rest.split_at(12);
        let verifier = BASE64URL_NOPAD.encode(verifier);
        Self {
            challenge: s256(&verifier),
            verifier,
            state: BASE64URL_NOPAD.encode(state),
            nonce: BASE64URL_NOPAD.encode(nonce),
        }
    }
}

/// RFC 7636's S256: BASE64URL(SHA256(verifier)).
pub(super) fn s256(verifier: &str) -> String {
    BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()))
}

/// What a round trip came to: the token endpoint's 200 (or a request that got no answer), or
/// an answer that was wrong.
pub(super) enum RoundTrip {
    Answered(Result<Answer, reqwest::Error>),
    Wrong(String),
}

impl Outcome for RoundTrip {
    fn failed(&self) -> bool {
        !matches!(self, Self::Answered(Ok(_)))
    }

    fn record(self, tally: &mut Tally, latency: Duration) {
        match self {
            Self::Answered(answer) => tally.record(answer, latency),
            Self::Wrong(what) => tally.record_wrong(what),
        }
    }
}

/// The round trip made once before timing, which must succeed: the algorithm of the ID token
/// (from its header).
pub(super) async fn first_round_trip(browser: &mut Browser) -> Result<String> {
    let (outcome, body) = round_trip(browser).await;
    match outcome {
        RoundTrip::Answered(Ok(_)) => {}
        RoundTrip::Answered(Err(e)) => {
            return Err(anyhow::Error::from(e).context("the first OpenID Connect round trip"))
        }
        RoundTrip::Wrong(what) => bail!("the first OpenID Connect round trip: {what}"),
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&body.unwrap_or_default()).context("the token answer")?;
    let id_token = answer
        .get("id_token")
        .and_then(serde_json::Value::as_str)
        .context("no id_token in the token answer")?;
    let header = id_token
        .split('.')
        .next()
        .and_then(|h| BASE64URL_NOPAD.decode(h.as_bytes()).ok())
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .context("the ID token's header")?;
    Ok(header
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(no alg)")
        .to_owned())
}

pub(super) fn location(headers: &HeaderMap) -> Option<String> {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The code in an authorization answer, or what was wrong with it.
pub(super) fn code_of(status: u16, location: Option<&str>, state: &str) -> Result<String, String> {
    if status != 303 {
        return Err(format!("authorize answered {status}"));
    }
    let Some(location) = location else {
        return Err("authorize answered 303 without a Location".to_owned());
    };
    let at_client = location
        .strip_prefix(REDIRECT_URI)
        .is_some_and(|rest| rest.starts_with('?'));
    let parsed = reqwest::Url::parse(location).ok().filter(|_| at_client);
    let Some(parsed) = parsed else {
        let path = location.split('?').next().unwrap_or_default();
        return Err(format!("authorize sent the browser to {path}"));
    };
    let (mut code, mut sent_state, mut error) = (None, None, None);
    for (k, v) in parsed.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => sent_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Err(format!("authorize answered error={error}"));
    }
    if sent_state.as_deref() != Some(state) {
        return Err("authorize sent back another state".to_owned());
    }
    code.ok_or_else(|| "authorize sent no code".to_owned())
}

/// One round trip: the authorization with the browser's cookies, then the code exchanged. The
/// token answer's body when it was 200 (the setup reads it).
pub(super) async fn round_trip(browser: &mut Browser) -> (RoundTrip, Option<Vec<u8>>) {
    let shared = browser.shared.clone();
    let pkce = Pkce::new();
    let authorize = browser
        .http
        .get(shared.authorize_url.as_str())
        .query(&[
            ("response_type", "code"),
            ("client_id", shared.rp.id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", SCOPE),
            ("state", pkce.state.as_str()),
            ("nonce", pkce.nonce.as_str()),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .header(COOKIE, browser.jar.header.as_str())
        .send()
        .await;
    let response = match authorize {
        Ok(r) => r,
        Err(e) => return (RoundTrip::Answered(Err(e)), None),
    };
    let status = response.status().as_u16();
    browser.jar.keep(response.headers());
    let to = location(response.headers());
    if let Err(e) = response.bytes().await {
        return (RoundTrip::Answered(Err(e)), None);
    }
    let code = match code_of(status, to.as_deref(), &pkce.state) {
        Ok(code) => code,
        Err(what) => return (RoundTrip::Wrong(what), None),
    };
    let token = browser
        .http
        .post(shared.token_url.as_str())
        .basic_auth(&shared.rp.id, Some(&shared.rp.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
        ])
        .send()
        .await;
    let response = match token {
        Ok(r) => r,
        Err(e) => return (RoundTrip::Answered(Err(e)), None),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return (RoundTrip::Answered(Err(e)), None),
    };
    if status != 200 {
        return (RoundTrip::Wrong(format!("token answered {status}")), None);
    }
    if !body.windows(10).any(|w| w == b"\"id_token\"") {
        return (
            RoundTrip::Wrong("token answered 200 without an id_token".to_owned()),
            None,
        );
    }
    (
        RoundTrip::Answered(Ok(Answer {
            status,
            retry_after,
        })),
        Some(body.to_vec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_is_rfc_7636s() {
        // RFC 7636, appendix B
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::new();
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(p.challenge, s256(&p.verifier));
        assert_ne!(p.verifier, Pkce::new().verifier);
    }

    #[test]
    fn the_code_is_read_from_the_redirect_and_anything_else_is_wrong() {
        let at = |q: &str| format!("{REDIRECT_URI}?{q}");
        assert_eq!(
            code_of(303, Some(&at("code=abc&state=s1&iss=x")), "s1"),
            Ok("abc".to_owned())
        );
        assert_eq!(
            code_of(303, Some("/sign-in"), "s1"),
            Err("authorize sent the browser to /sign-in".to_owned())
        );
        assert_eq!(
            code_of(303, Some(&at("error=login_required&state=s1")), "s1"),
            Err("authorize answered error=login_required".to_owned())
        );
        assert_eq!(
            code_of(303, Some(&at("code=abc&state=s2")), "s1"),
            Err("authorize sent back another state".to_owned())
        );
        assert_eq!(
            code_of(200, None, "s1"),
            Err("authorize answered 200".to_owned())
        );
    }

    #[test]
    fn the_jar_keeps_replaces_and_clears_cookies() {
        let mut jar = Jar::default();
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            "deadbolt-csrf=n1; Path=/; HttpOnly".parse().unwrap(),
        );
        h.append(SET_COOKIE, "deadbolt-pending=p; Path=/".parse().unwrap());
        jar.keep(&h);
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, "deadbolt-session=s1; Path=/".parse().unwrap());
        h.append(
            SET_COOKIE,
            "deadbolt-pending=; Path=/; Max-Age=0".parse().unwrap(),
        );
        jar.keep(&h);
        assert_eq!(jar.header, "deadbolt-csrf=n1; deadbolt-session=s1");
        assert!(jar.has("session"));
    }
}
