//! An OpenID Connect sign-in round trip for a person whose browser is already signed in (a
//! trusted device: no password, no second factor): `GET /oauth2/authorize` with the browser's
//! session cookie, answered 303 to the client's redirect URI with a code, then
//! `POST /oauth2/token` (authorization_code, PKCE S256, client_secret_basic) answered 200.
//! Whole round trips per second, closed loop, against the same run's `/healthz` rate and half
//! of it (a round trip is two requests); no target.
//!
//! It runs on the server with the default costs, after the session phases: a round trip hashes
//! no password (the client's secret is checked by a keyed hash). The setup (untimed) registers
//! a confidential first-party client with the server's own command (`deadbolt clients create`
//! against the config the harness wrote; with `--url`, `--oidc-client` names one) and signs in
//! one browser per worker on the hosted pages as a browser does: the sign-in page's CSRF cookie
//! and hidden field, the form posted with the server's origin, the load account (no second
//! factor). Every cookie the server sets is kept. One round trip is made before timing, to
//! check the flow and read which algorithm signs the ID tokens.
//!
//! A round trip counts when the token endpoint answers 200 with an ID token. Any other answer
//! (an authorization without a code, a token answer other than 200) or none fails the run,
//! after the figures are printed, and so does a setup that fails; speed never does.

use crate::api::{EMAIL, PASSWORD};
use crate::ceilings::{Healthz, HEALTHZ_WORKERS};
use crate::cli::Cli;
use crate::cpu::CpuMeter;
use crate::drive::{closed_loop_with, in_parallel};
use crate::report::{ms, noise_text};
use crate::spawn::Spawned;
use crate::tally::{Answer, Outcome, Tally, HTTP_TIMEOUT};
use anyhow::{bail, ensure, Context, Result};
use data_encoding::BASE64URL_NOPAD;
use rand_core::{OsRng, RngCore};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The client's redirect URI (never fetched: the harness reads the code from the Location).
pub const REDIRECT_URI: &str = "https://rp.example/cb";
const SCOPE: &str = "openid email";
/// Browsers signing in at once during the setup (each sign-in is one Argon2 verification, and
/// the server's hash queue holds 4 x cores).
const SIGN_IN_TASKS: usize = 4;

/// The phase's figures; `broken` when a request answered wrongly (the run then fails).
pub struct OidcFigures {
    pub noise: Option<f64>,
    pub summary: Vec<String>,
    pub broken: Option<String>,
}

impl OidcFigures {
    fn skipped(why: &str) -> Self {
        println!("[oidc] skipped ({why})");
        Self {
            noise: None,
            summary: vec![format!("oidc round trip  skipped ({why})")],
            broken: None,
        }
    }
}

/// A confidential client.
struct Rp {
    id: String,
    secret: String,
    /// The ID-token algorithm it is registered with, where known (a client the harness
    /// registered).
    registered_alg: Option<String>,
}

/// What every worker shares.
struct Shared {
    rp: Rp,
    authorize_url: String,
    token_url: String,
}

/// A browser of sorts: the cookies the server set, as the Cookie header sends them back.
#[derive(Default)]
struct Jar {
    cookies: Vec<(String, String)>,
    header: String,
}

impl Jar {
    /// Keeps every Set-Cookie of an answer (an empty value clears the cookie).
    fn keep(&mut self, headers: &HeaderMap) {
        let mut changed = false;
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
            changed = true;
        }
        if changed {
            self.header = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
        }
    }

    fn has(&self, part_of_name: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n.contains(part_of_name))
    }
}

/// A signed-in browser: its own connection (redirects are not followed: the harness reads
/// them) and its cookies.
struct Browser {
    http: reqwest::Client,
    jar: Jar,
    shared: Arc<Shared>,
}

/// The PKCE verifier and its S256 challenge, with a state and a nonce: fresh randomness for
/// every round trip, as a client makes them.
struct Pkce {
    verifier: String,
    challenge: String,
    state: String,
    nonce: String,
}

impl Pkce {
    fn new() -> Self {
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
fn s256(verifier: &str) -> String {
    BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()))
}

/// What a round trip came to: the token endpoint's 200 (or a request that got no answer), or
/// an answer that was wrong.
enum RoundTrip {
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

/// The phase: setup, one checked round trip, then `--seconds` of round trips from as many
/// signed-in browsers as `/healthz` had workers.
pub async fn oidc_phase(
    cli: &Cli,
    base: &str,
    server: Option<&Spawned>,
    healthz: &Healthz,
) -> Result<OidcFigures> {
    let (common, p) = (&cli.common, &cli.phases);
    if p.skip_oidc {
        return Ok(OidcFigures::skipped("--skip-oidc"));
    }
    let given = match (server, &p.oidc_client) {
        (Some(_), _) => None,
        (None, Some(given)) => Some(given.as_str()),
        (None, None) => {
            return Ok(OidcFigures::skipped(
                "--url without --oidc-client: the harness registers a client only on a server \
                 it started",
            ))
        }
    };
    let workers = common.concurrency.unwrap_or(HEALTHZ_WORKERS);
    let where_ = match server {
        Some(_) => "on the server with the default costs",
        None => "on the server at --url",
    };
    // a setup the server answers wrongly fails the run as a timed wrong answer would: after
    // the other phases' figures
    let (browsers, alg) = match setup(base, server, given, workers, where_).await {
        Ok(ready) => ready,
        Err(e) => {
            let why = format!("{e:#}");
            println!("[oidc] setup failed: {why}");
            return Ok(OidcFigures {
                noise: None,
                summary: vec![format!(
                    "OIDC round trip  not measured: the setup failed: {why}"
                )],
                broken: Some(format!("the OpenID Connect setup failed: {why}")),
            });
        }
    };

    let seconds = common.seconds;
    println!(
        "[oidc] GET /oauth2/authorize + POST /oauth2/token, {workers} signed-in browsers, \
         {seconds} s ..."
    );
    let window = Duration::from_secs(seconds);
    let cpu = CpuMeter::start(server.and_then(Spawned::pid));
    // the tally counts the window only; a wrong answer in the warm-up fails the run too
    let failed = Arc::new(AtomicUsize::new(0));
    let failures = failed.clone();
    // each browser brings its own client (no redirects followed); the loop's is left unused
    let tally = closed_loop_with(browsers, window, move |_, mut browser| {
        let failures = failures.clone();
        async move {
            let (outcome, _) = round_trip(&mut browser).await;
            if outcome.failed() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            (browser, outcome)
        }
    })
    .await?;
    let failed = failed.load(Ordering::Relaxed);
    let noise = cpu.others_share();
    let rate = tally.count(200) as f64 / window.as_secs_f64();
    let (to_healthz, to_half) = (rate / healthz.rate, rate / (healthz.rate / 2.0));
    let (p50, p99) = (
        ms(tally.percentile(200, 0.50)),
        ms(tally.percentile(200, 0.99)),
    );
    let others = tally.others(&[200]);
    println!(
        "[oidc] {rate:.0} round trips/s, p50 {p50}, p99 {p99}, other: {others}; {}",
        noise_text(noise)
    );
    let ratios = format!(
        "oidc/healthz = {to_healthz:.3}; oidc/(healthz/2) = {to_half:.3} (a round trip is two \
         requests; no target: measured)"
    );
    println!("[oidc] {ratios}");
    let broken = (failed > 0).then(|| {
        format!(
            "{failed} OpenID Connect round trips went wrong (warm-up included); in the \
             window: {others}"
        )
    });
    Ok(OidcFigures {
        noise,
        summary: vec![
            format!(
                "OIDC round trip  {rate:.0} round trips/s, p50 {p50}, p99 {p99} ({workers} \
                 signed-in browsers, {seconds} s; other: {others})"
            ),
            format!(
                "                 authorize (303 with a code) + token (authorization_code, PKCE \
                 S256, client_secret_basic; ID token {alg}), first-party client, {where_}"
            ),
            ratios,
        ],
        broken,
    })
}

/// The client (registered, or given), the signed-in browsers, and one round trip made before
/// timing: the browsers, and the algorithm that signed the ID token, as the summary says it.
async fn setup(
    base: &str,
    server: Option<&Spawned>,
    given: Option<&str>,
    workers: usize,
    where_: &str,
) -> Result<(Vec<Browser>, String)> {
    let (rp, registered) = match (server, given) {
        (_, Some(given)) => (parse_client(given)?, "given by --oidc-client"),
        (Some(server), None) => (
            register(server).await?,
            "registered by `deadbolt clients create`",
        ),
        (None, None) => bail!("no client"),
    };
    println!(
        "[oidc] setup: client {} ({registered}), {workers} browsers signed in on the hosted \
         pages as {EMAIL} (untimed), {where_} ...",
        rp.id
    );
    let shared = Arc::new(Shared {
        rp,
        authorize_url: format!("{base}/oauth2/authorize"),
        token_url: format!("{base}/oauth2/token"),
    });
    let origin = reqwest::Url::parse(base)
        .with_context(|| format!("the server's URL {base}"))?
        .origin()
        .ascii_serialization();
    let mut browsers = {
        let (base, shared) = (base.to_owned(), shared.clone());
        in_parallel(workers, SIGN_IN_TASKS, move |_, _| {
            let (base, origin, shared) = (base.clone(), origin.clone(), shared.clone());
            async move { sign_in(&base, &origin, shared).await }
        })
        .await
        .context("signing in the browsers")?
    };
    let first = browsers.first_mut().context("no browser")?;
    let signed = first_round_trip(first).await?;
    let alg = match shared.rp.registered_alg.as_deref() {
        Some(registered) if registered != signed => format!(
            "{signed}, though the client is registered for {registered}: the figures are \
             {signed}'s"
        ),
        Some(_) => format!("{signed}, the client's registered default"),
        None => signed,
    };
    println!("[oidc] the flow answers; ID tokens signed {alg}");
    Ok((browsers, alg))
}

/// `deadbolt clients create` against the spawned server's config and database.
async fn register(server: &Spawned) -> Result<Rp> {
    let output = tokio::process::Command::new(&server.bin)
        .args(["clients", "create", "--config"])
        .arg(&server.config)
        .args(["--name", "load", "--redirect-uri", REDIRECT_URI])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} clients create", server.bin.display()))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    ensure!(
        output.status.success(),
        "deadbolt clients create failed ({}): {stdout}{stderr}",
        output.status
    );
    let made = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("client_id").is_some())
        .with_context(|| format!("deadbolt clients create printed no client: {stdout}"))?;
    let field = |name: &str| {
        made.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("deadbolt clients create printed no {name}: {made}"))
    };
    let id = field("client_id")?;
    let registered_alg = match made.get(ALG_FIELD).and_then(serde_json::Value::as_str) {
        Some(alg) => Some(alg.to_owned()),
        None => registered_alg(server, &id).await?,
    };
    Ok(Rp {
        secret: field("client_secret")?,
        id,
        registered_alg,
    })
}

/// How `deadbolt clients` names a client's ID-token algorithm.
const ALG_FIELD: &str = "id_token_signed_response_alg";

/// The ID-token algorithm `deadbolt clients list` shows for the client.
async fn registered_alg(server: &Spawned, client_id: &str) -> Result<Option<String>> {
    let output = tokio::process::Command::new(&server.bin)
        .args(["clients", "list", "--config"])
        .arg(&server.config)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} clients list", server.bin.display()))?;
    ensure!(
        output.status.success(),
        "deadbolt clients list failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|c| c.get("client_id").and_then(serde_json::Value::as_str) == Some(client_id))
        .and_then(|c| c.get(ALG_FIELD)?.as_str().map(str::to_owned)))
}

/// `--oidc-client ID:SECRET`.
fn parse_client(given: &str) -> Result<Rp> {
    match given.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Rp {
            id: id.to_owned(),
            secret: secret.to_owned(),
            registered_alg: None,
        }),
        _ => bail!("--oidc-client: CLIENT_ID:CLIENT_SECRET"),
    }
}

fn no_redirects() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(HTTP_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// A browser signed in as the load account on the hosted pages: the sign-in page (its CSRF
/// cookie and hidden field), then the form posted from the server's origin, answered 303 with
/// the session cookie.
async fn sign_in(base: &str, origin: &str, shared: Arc<Shared>) -> Result<Browser> {
    let http = no_redirects()?;
    let mut jar = Jar::default();
    let page = http
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .context("GET /sign-in")?;
    let status = page.status().as_u16();
    jar.keep(page.headers());
    let body = page.text().await.context("reading the sign-in page")?;
    ensure!(status == 200, "GET /sign-in answered {status}");
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in page has no csrf field")?
        .to_owned();
    let answer = http
        .post(format!("{base}/sign-in"))
        .header(COOKIE, jar.header.as_str())
        .header(ORIGIN, origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .context("POST /sign-in")?;
    let status = answer.status().as_u16();
    jar.keep(answer.headers());
    let to = location(answer.headers()).unwrap_or_default();
    let body = answer.text().await.unwrap_or_default();
    ensure!(
        status == 303,
        "POST /sign-in answered {status} (expected 303 with a session): {}",
        body.chars().take(400).collect::<String>()
    );
    ensure!(
        !to.starts_with("/sign-in"),
        "POST /sign-in sent the browser to {to}: the load account must sign in without a \
         second factor"
    );
    ensure!(
        jar.has("session"),
        "POST /sign-in set no session cookie (sent to {to})"
    );
    Ok(Browser { http, jar, shared })
}

/// The round trip made once before timing, which must succeed: the algorithm of the ID token
/// (from its header).
async fn first_round_trip(browser: &mut Browser) -> Result<String> {
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

fn location(headers: &HeaderMap) -> Option<String> {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The code in an authorization answer, or what was wrong with it.
fn code_of(status: u16, location: Option<&str>, state: &str) -> Result<String, String> {
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
async fn round_trip(browser: &mut Browser) -> (RoundTrip, Option<Vec<u8>>) {
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
