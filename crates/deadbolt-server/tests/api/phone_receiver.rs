//! A local HTTP receiver in place of an SMS/voice provider (the one stand-in the tests allow):
//! the webhook shape, which checks the HMAC signature with its own code, or Twilio's Messages
//! and Calls APIs, which check basic auth and read the form fields.

use super::helpers::TestApp;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use deadbolt_core::clock::{Clock, ManualClock};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One message the provider accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// The text, or (voice) what is to be spoken.
    pub body: String,
    /// The webhook's `X-Deadbolt-Message-Id`.
    pub message_id: Option<String>,
}

impl Received {
    /// The code in the message; a spoken one comes digit by digit (`4, 0, 7, …`).
    pub fn code(&self) -> String {
        let text = self.body.replace(", ", "");
        let codes = super::helpers::six_digit_numbers(&text);
        assert!(!codes.is_empty(), "no code in {:?}", self.body);
        codes[0].clone()
    }
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::UnboundedSender<Received>,
    secret: Vec<u8>,
    /// The status to answer instead of accepting (0: accept).
    answer: Arc<AtomicU16>,
    bad_signatures: Arc<AtomicUsize>,
    sid: String,
    token: String,
    /// The app's clock when the test drives it; else the wall clock.
    clock: Option<Arc<ManualClock>>,
}

pub struct PhoneReceiver {
    rx: mpsc::UnboundedReceiver<Received>,
    shared: Shared,
    task: JoinHandle<()>,
}

pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-test-auth-token";

impl PhoneReceiver {
    /// A loopback port held from now on, for the app's configuration, and its listener, for
    /// the receiver started once the app is up (a port only picked could be taken by a parallel
    /// test in between).
    pub fn reserve() -> (u16, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (listener.local_addr().unwrap().port(), listener)
    }

    /// The webhook shape at `http://127.0.0.1:{port}/sms`, for `app` (whose clock signs); the
    /// port is bound now (after an outage with nothing listening).
    pub async fn webhook(port: u16, secret: &str, app: &TestApp) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        Self::webhook_on(listener, secret, app).await
    }

    /// The webhook shape on a reserved listener.
    pub async fn webhook_on(listener: std::net::TcpListener, secret: &str, app: &TestApp) -> Self {
        Self::start(listener, secret, app, |r| r.route("/sms", post(webhook))).await
    }

    /// Twilio's API on a reserved listener (the `twilio_base_url`).
    pub async fn twilio(listener: std::net::TcpListener, app: &TestApp) -> Self {
        Self::start(listener, "", app, |r| {
            r.route("/2010-04-01/Accounts/{sid}/{resource}", post(twilio))
        })
        .await
    }

    async fn start(
        listener: std::net::TcpListener,
        secret: &str,
        app: &TestApp,
        routes: impl FnOnce(Router<Shared>) -> Router<Shared>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            tx,
            secret: secret.as_bytes().to_vec(),
            answer: Arc::new(AtomicU16::new(0)),
            bad_signatures: Arc::new(AtomicUsize::new(0)),
            sid: TWILIO_SID.to_owned(),
            token: TWILIO_TOKEN.to_owned(),
            clock: app.clock.clone(),
        };
        let app = routes(Router::new()).with_state(shared.clone());
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { rx, shared, task }
    }

    /// Answer every request with `status` from now on (0: accept again).
    pub fn answer(&self, status: u16) {
        self.shared.answer.store(status, Ordering::SeqCst);
    }

    pub fn bad_signatures(&self) -> usize {
        self.shared.bad_signatures.load(Ordering::SeqCst)
    }

    pub async fn next_within(&mut self, secs: u64) -> Option<Received> {
        tokio::time::timeout(Duration::from_secs(secs), self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn next(&mut self) -> Received {
        self.next_within(15)
            .await
            .expect("no SMS or call arrived within 15 s")
    }
}

impl Drop for PhoneReceiver {
    /// Stops listening: the port refuses connections again.
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn refused(shared: &Shared) -> Option<StatusCode> {
    match shared.answer.load(Ordering::SeqCst) {
        0 => None,
        s => Some(StatusCode::from_u16(s).unwrap()),
    }
}

/// `X-Deadbolt-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, checked here
/// with this file's own HMAC, in constant time, within five minutes.
fn signature_is_valid(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers
        .get("x-deadbolt-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(sent_at) = t.parse::<i64>() else {
        return false;
    };
    #[allow(
        clippy::disallowed_methods,
        reason = "the receiver runs on the wall clock"
    )]
    let now = match &shared.clock {
        Some(clock) => clock.now(),
        None => time::OffsetDateTime::now_utc(),
    }
    .unix_timestamp();
    if (now - sent_at).abs() > 300 {
        return false;
    }
    let Ok(expected) = data_encoding::HEXLOWER.decode(v1.as_bytes()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&shared.secret).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn webhook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if let Some(status) = refused(&shared) {
        return status;
    }
    if !signature_is_valid(&shared, &headers, &body) {
        shared.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let json: Value = serde_json::from_slice(&body).unwrap();
    // sorted: whether serde_json keeps insertion order depends on the features other crates
    // in the test build enable
    let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["body", "channel", "to"], "the webhook's JSON shape");
    let _ = shared.tx.send(Received {
        to: json["to"].as_str().unwrap().to_owned(),
        channel: json["channel"].as_str().unwrap().to_owned(),
        body: json["body"].as_str().unwrap().to_owned(),
        message_id: headers
            .get("x-deadbolt-message-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    StatusCode::OK
}

async fn twilio(
    State(shared): State<Shared>,
    Path((sid, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if let Some(status) = refused(&shared) {
        return (
            status,
            r#"{"code":20500,"message":"Internal Server Error","status":500}"#.to_owned(),
        );
    }
    let expected = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{}:{}", shared.sid, shared.token).as_bytes())
    );
    if sid != shared.sid
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected)
    {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"code":20003,"message":"Authenticate","status":401}"#.to_owned(),
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (channel, text) = match resource.as_str() {
        "Messages.json" => ("sms", field("Body")),
        "Calls.json" => ("voice", field("Twiml")),
        _ => return (StatusCode::NOT_FOUND, "{}".to_owned()),
    };
    let _ = shared.tx.send(Received {
        to: field("To"),
        channel: channel.to_owned(),
        body: text,
        message_id: None,
    });
    (
        StatusCode::CREATED,
        r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}"#.to_owned(),
    )
}
