//! One real service state per process, made on first use: a SQLite database in a temporary
//! directory, keys from a seeded generator and a fixed clock (so a token signed for the corpus
//! verifies, and names the same session, in every later run), an account with a page session,
//! and the ceremonies the WebAuthn targets answer.

use deadbolt_core::auth::AuthMethod;
use deadbolt_core::clock::ManualClock;
use deadbolt_core::random::SeededRandom;
use deadbolt_core::secret::Secret;
use deadbolt_server::config::Config;
use deadbolt_server::state::AppState;
use deadbolt_usecases::client::ClientInfo;
use deadbolt_usecases::{accounts, sessions, webauthn};
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;

pub struct Fixture {
    pub rt: Runtime,
    pub state: AppState,
    pub router: axum::Router,
    pub account: deadbolt_core::account::Account,
    /// `deadbolt-session=…` of a live page session of `account`.
    pub session_cookie: String,
    pub session_id: deadbolt_core::ids::SessionId,
    /// The CSRF nonce cookie the requests carry, and the form tokens the pages render for it
    /// without and with the session cookie.
    pub csrf_nonce: String,
    pub csrf_anonymous: String,
    pub csrf_signed_in: String,
    /// The stored server state of a registration ceremony (its challenge is replaced by the one
    /// a fuzzed credential names) and the method it registers.
    pub registration_state: Vec<u8>,
    pub registration_challenge: [u8; 16],
    pub method_id: deadbolt_core::ids::MethodId,
    /// The stored server state of a passkey sign-in ceremony, likewise.
    pub passkey_state: Vec<u8>,
    pub passkey_challenge: [u8; 16],
    /// The account's WebAuthn user handle.
    pub user_handle: [u8; 16],
    _dir: tempfile::TempDir,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The fixture; made once. Failing to make it is a broken harness, not a finding.
pub fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| match build() {
        Ok(f) => f,
        Err(e) => panic!("fuzz fixture: {e:#}"),
    })
}

pub const PASSWORD: &str = "correct horse battery staple 42";
pub const EMAIL: &str = "fuzz@example.com";

fn build() -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}/deadbolt.db", dir.path().display());
    config.secrets.master_key_file = dir.path().join("master.key");
    config.email.file_dir = dir.path().join("mail");
    config.sms.file_dir = dir.path().join("sms");
    // the targets measure parsing, not Argon2
    config.password.memory_kib = 8;
    config.password.iterations = 1;
    config.password.hash_threads = 1;
    config.limits.signups_per_ip_per_hour = u32::MAX;
    // the WebAuthn targets answer the fixture's two ceremonies for as long as a run lasts
    config.webauthn.ceremony_timeout_seconds = 3600;
    let state = rt.block_on(deadbolt_server::app::build_state(
        config,
        // a fixed clock as well as seeded keys: ids and tokens made for the corpus are the
        // same in every run, so a seed token still names the fixture's session
        Arc::new(ManualClock::new(
            time::macros::datetime!(2025-01-01 0:00 UTC),
        )),
        Arc::new(SeededRandom::new(7)),
    ))?;
    let router = deadbolt_server::app::router(state.clone());
    let account = rt
        .block_on(accounts::create_by_operator(
            &state,
            accounts::OperatorAccount {
                email: EMAIL.to_owned(),
                password: Secret::new(PASSWORD),
                roles: vec![],
            },
        ))
        .map_err(|e| anyhow::anyhow!("account: {e:?}"))?;
    let (session, _, writes) = sessions::prepare(
        &state,
        &ClientInfo::default(),
        &account,
        &[AuthMethod::Password],
    );
    rt.block_on(state.commit(writes))?;
    let session_cookie = format!(
        "deadbolt-session={}",
        deadbolt_server::pages::cookies::session_cookie_value(&state, session.id)
    );
    let csrf_nonce = "ab".repeat(32);
    let csrf_anonymous = rt.block_on(scrape_csrf(&router, &csrf_nonce, None))?;
    let csrf_signed_in = rt.block_on(scrape_csrf(&router, &csrf_nonce, Some(&session_cookie)))?;

    let method_id = deadbolt_core::ids::MethodId(uuid::Uuid::from_u128(0x5eed));
    let (options, write) = rt
        .block_on(webauthn::start_registration(&state, &account, method_id))
        .map_err(|e| anyhow::anyhow!("registration options: {e:?}"))?;
    rt.block_on(state.commit(vec![write]))?;
    let registration_challenge = challenge_of(&options)?;
    let registration_state = rt
        .block_on(state.store.ceremony_by_challenge(&format!(
            "{:032x}",
            u128::from_le_bytes(registration_challenge)
        )))?
        .ok_or_else(|| anyhow::anyhow!("no registration ceremony"))?
        .state;
    let (passkey_id, options) = rt
        .block_on(webauthn::start_passkey(&state))
        .map_err(|e| anyhow::anyhow!("passkey options: {e:?}"))?;
    let passkey_challenge = challenge_of(&options)?;
    let passkey_state = rt
        .block_on(state.store.ceremony(passkey_id))?
        .ok_or_else(|| anyhow::anyhow!("no passkey ceremony"))?
        .state;
    let handle = rt.block_on(state.store.webauthn_user_handle(account.id, vec![0; 16]))?;
    let user_handle: [u8; 16] = handle
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("user handle length"))?;
    Ok(Fixture {
        rt,
        state,
        router,
        account,
        session_cookie,
        session_id: session.id,
        csrf_nonce,
        csrf_anonymous,
        csrf_signed_in,
        registration_state,
        registration_challenge,
        method_id,
        passkey_state,
        passkey_challenge,
        user_handle,
        _dir: dir,
    })
}

/// The 16 challenge bytes of WebAuthn options (`challenge`, base64url), as they were sent.
fn challenge_of(options: &serde_json::Value) -> anyhow::Result<[u8; 16]> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let text = options["challenge"]
        .as_str()
        .or_else(|| options["publicKey"]["challenge"].as_str())
        .ok_or_else(|| anyhow::anyhow!("options without a challenge: {options}"))?;
    let bytes = URL_SAFE_NO_PAD.decode(text)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("challenge length"))
}

/// The form token a page renders for this nonce (and session cookie, when given).
async fn scrape_csrf(
    router: &axum::Router,
    nonce: &str,
    session: Option<&str>,
) -> anyhow::Result<String> {
    use tower::ServiceExt as _;
    let mut cookie = format!("deadbolt-csrf={nonce}");
    if let Some(s) = session {
        cookie.push_str("; ");
        cookie.push_str(s);
    }
    let path = if session.is_some() {
        "/account/email"
    } else {
        "/sign-in"
    };
    let request = axum::http::Request::get(path)
        .header("cookie", cookie)
        .header("accept", "text/html")
        .body(axum::body::Body::empty())?;
    let response = router.clone().oneshot(request).await?;
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let html = String::from_utf8_lossy(&body);
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("{path} renders no csrf field"))?
        + marker.len();
    let end = html[start..]
        .find('"')
        .ok_or_else(|| anyhow::anyhow!("unterminated csrf field"))?;
    Ok(html[start..start + end].to_owned())
}
