//! SMS and voice through a webhook of the operator's own: Deadbolt POSTs a signed JSON document
//! and the receiver passes it on to whatever gateway it likes.
//!
//! The request:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! X-Deadbolt-Message-Id: 0b9f2c1e-…            (the same on every retry of one message)
//! X-Deadbolt-Signature: t=1767225600,v1=5f0c…  (see [`sign`])
//!
//! {"to":"+12015550123","body":"Your Deadbolt code is 123456","channel":"sms"}
//! ```
//!
//! `channel` is `sms`, `voice` (speak `body`) or `push` (a push gateway: `to` is the
//! approver's push token, `body` says who asks from where, never the number to pick). Any 2xx answer acknowledges the message, and
//! it is never sent again. A message can arrive twice when Deadbolt stops between the
//! receiver's answer and recording it: the receiver should drop a message id it has seen and
//! answer 2xx to it again. 4xx answers other than 408, 409, 425 and 429 mean the message itself
//! was refused and are not retried; those four, 5xx, other answers, timeouts (15 s) and
//! connection failures are retried with backoff. Redirects are not followed.

use crate::{Channel, DeliveryError};
use async_trait::async_trait;
use deadbolt_core::clock::Clock;
use deadbolt_store::OutboxMessage;
use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use serde::Serialize;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// The header naming the message, the same on every attempt: receivers drop duplicates by it.
pub const MESSAGE_ID_HEADER: &str = "X-Deadbolt-Message-Id";
/// The header carrying [`sign`]'s value.
pub const SIGNATURE_HEADER: &str = "X-Deadbolt-Signature";

const TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The value of the `X-Deadbolt-Signature` header: `t=<timestamp>,v1=<signature>`, where
/// `<timestamp>` is the sending time in whole seconds since the Unix epoch (decimal) and
/// `<signature>` is the lowercase hex HMAC-SHA256, keyed with the shared secret, of the bytes
/// `<timestamp>` `.` `<body>` — the timestamp exactly as it appears in the header, one full stop,
/// then the request body exactly as received (before any JSON parsing).
///
/// A receiver recomputes the HMAC over the raw body, compares it with `v1` in constant time, and
/// refuses a timestamp too far from its own clock (five minutes, say), so a captured request
/// cannot be replayed later. A new timestamp is taken on every attempt.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length (longer ones are hashed first): this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC-SHA256 accepts keys of every length")
    };
    let t = timestamp.to_string();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let v1 = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    format!("t={t},v1={v1}")
}

/// Delivers SMS and voice messages to an operator's webhook; see the module documentation.
pub struct WebhookChannel {
    client: reqwest::Client,
    url: Url,
    secret: Zeroizing<Vec<u8>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("url", &redacted(&self.url))
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    to: &'a str,
    body: &'a str,
    channel: &'a str,
}

impl WebhookChannel {
    /// `url` must be `http://` or `https://`; `secret` (not empty) keys the signatures.
    pub fn new(url: &str, secret: &[u8], clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let url = http_url(url).map_err(|e| anyhow::anyhow!("invalid webhook url: {e}"))?;
        anyhow::ensure!(!secret.is_empty(), "the webhook secret must not be empty");
        Ok(Self {
            client: http_client()?,
            url,
            secret: Zeroizing::new(secret.to_vec()),
            clock,
        })
    }
}

#[async_trait]
impl Channel for WebhookChannel {
    async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        if !["sms", "voice", "push"].contains(&m.channel.as_str()) {
            return Err(DeliveryError {
                message: format!("webhook: cannot carry channel {:?}", m.channel),
                permanent: true,
                unreachable: false,
            });
        }
        let body = serde_json::to_vec(&Payload {
            to: &m.recipient,
            body: &m.body_text,
            channel: &m.channel,
        })
        .map_err(|e| DeliveryError {
            message: format!("webhook: cannot encode the message: {e}"),
            permanent: true,
            unreachable: false,
        })?;
        let signature = sign(&self.secret, self.clock.now().unix_timestamp(), &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(MESSAGE_ID_HEADER, m.id.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| request_error("webhook", &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The receiver's answer may echo the message (and its code): it stays out of the error.
        Err(DeliveryError {
            message: format!("webhook: the receiver answered {status}"),
            permanent: is_permanent(status),
            unreachable: false,
        })
    }
}

/// 4xx means the receiver refused this message, except for the four that mean "not now".
fn is_permanent(status: StatusCode) -> bool {
    status.is_client_error() && !matches!(status.as_u16(), 408 | 409 | 425 | 429)
}

/// An absolute `http(s)` URL with a host.
pub(crate) fn http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".to_owned());
    }
    Ok(url)
}

/// `url` without a password, query or fragment, which may carry credentials.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("redacted"));
    }
    if shown.query().is_some() {
        shown.set_query(Some("redacted"));
    }
    shown.set_fragment(None);
    shown.to_string()
}

/// The HTTP client of the SMS and voice channels: TLS by rustls with the webpki roots,
/// 15 s for a whole exchange, 5 s to connect, no redirects.
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("deadbolt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {}", describe(&e)))
}

/// A request that got no answer (no connection, a timeout, a broken exchange): worth retrying.
/// The URL stays out of the message (it may carry credentials), the causes go in.
pub(crate) fn request_error(provider: &str, e: &reqwest::Error) -> DeliveryError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    DeliveryError {
        message: format!("{provider}: {what}: {}", describe(e)),
        permanent: false,
        unreachable: true,
    }
}

/// The error and its causes, without the URL reqwest puts in its own message.
fn describe(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cause {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if text.is_empty() {
        text = if e.is_timeout() {
            "no answer in time".to_owned()
        } else {
            "no answer".to_owned()
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode as AxumStatus};
    use deadbolt_core::clock::ManualClock;
    use deadbolt_core::ids::MessageId;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use time::macros::datetime;

    const SECRET: &[u8] = b"whsec-test-0123456789";
    /// 2030-01-02T03:04:05Z
    const NOW: i64 = 1_893_553_445;

    /// What the receiver got, one entry a request.
    #[derive(Clone)]
    struct Received {
        headers: HeaderMap,
        body: Bytes,
    }

    /// A real HTTP server on 127.0.0.1 that records requests and answers `status`.
    struct Receiver {
        url: String,
        received: Arc<Mutex<Vec<Received>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn receiver(status: u16) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let status = AxumStatus::from_u16(status).unwrap();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Received { headers, body });
                (status, "{\"echo\":\"Your code is 123456\"}")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://{addr}/hooks/sms"),
            received,
            task,
        }
    }

    impl Receiver {
        fn requests(&self) -> Vec<Received> {
            self.received.lock().unwrap().clone()
        }
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(datetime!(2030-01-02 03:04:05 UTC)))
    }

    fn message(channel: &str) -> OutboxMessage {
        OutboxMessage {
            id: MessageId(uuid::Uuid::from_u128(
                0x0123_4567_89ab_4def_8123_4567_89ab_cdef,
            )),
            channel: channel.to_owned(),
            recipient: "+12015550123".to_owned(),
            subject: "Your code".to_owned(),
            body_text: "Your Deadbolt code is 123456 \"quoted\" \u{e9}".to_owned(),
            body_html: None,
            attempts: 0,
            created_at: datetime!(2030-01-02 03:00:00 UTC),
        }
    }

    /// The receiver's side of [`sign`], written from its documentation alone.
    fn verify(secret: &[u8], header: &str, body: &[u8]) -> Option<i64> {
        let (t, v1) = header.strip_prefix("t=")?.split_once(",v1=")?;
        let timestamp: i64 = t.parse().ok()?;
        let expected = data_encoding::HEXLOWER.decode(v1.as_bytes()).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&expected).ok()?;
        Some(timestamp)
    }

    fn header<'a>(r: &'a Received, name: &str) -> &'a str {
        r.headers.get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn posts_signed_json_with_the_message_id() {
        let rx = receiver(204).await;
        let clock = clock();
        let channel = WebhookChannel::new(&rx.url, SECRET, clock.clone()).unwrap();
        let m = message("sms");
        channel.send(&m).await.unwrap();

        let got = rx.requests();
        assert_eq!(got.len(), 1);
        let r = &got[0];
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "to": "+12015550123",
                "body": "Your Deadbolt code is 123456 \"quoted\" \u{e9}",
                "channel": "sms",
            })
        );
        assert_eq!(header(r, "content-type"), "application/json");
        assert_eq!(
            header(r, "x-deadbolt-message-id"),
            "01234567-89ab-4def-8123-456789abcdef"
        );

        let signature = header(r, "x-deadbolt-signature");
        assert!(
            signature.starts_with(&format!("t={NOW},v1=")),
            "{signature}"
        );
        let v1 = signature.rsplit_once("v1=").unwrap().1;
        assert_eq!(v1.len(), 64);
        assert!(v1.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(verify(SECRET, signature, &r.body), Some(NOW));
        assert_eq!(signature, sign(SECRET, NOW, &r.body));

        // a changed body, timestamp or key does not verify
        let mut tampered = r.body.to_vec();
        let at = tampered.windows(6).position(|w| w == b"123456").unwrap();
        tampered[at] = b'9';
        assert_eq!(verify(SECRET, signature, &tampered), None);
        let later = signature.replacen(&NOW.to_string(), &(NOW + 3600).to_string(), 1);
        assert_eq!(verify(SECRET, &later, &r.body), None);
        assert_eq!(verify(b"another secret", signature, &r.body), None);

        // a retry carries the same message id and a fresh timestamp
        clock.advance(time::Duration::seconds(30));
        channel.send(&m).await.unwrap();
        let got = rx.requests();
        assert_eq!(got.len(), 2);
        assert_eq!(
            header(&got[1], "x-deadbolt-message-id"),
            "01234567-89ab-4def-8123-456789abcdef"
        );
        let retry = header(&got[1], "x-deadbolt-signature");
        assert_eq!(verify(SECRET, retry, &got[1].body), Some(NOW + 30));
    }

    #[test]
    fn signature_matches_a_known_value() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`
        assert_eq!(
            sign(b"secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[tokio::test]
    async fn voice_goes_to_the_same_hook() {
        let rx = receiver(200).await;
        let channel = WebhookChannel::new(&rx.url, SECRET, clock()).unwrap();
        channel.send(&message("voice")).await.unwrap();
        let got = rx.requests();
        let json: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(json["channel"], "voice");
        assert_eq!(json["to"], "+12015550123");
    }

    #[tokio::test]
    async fn other_channels_are_refused_without_a_request() {
        let rx = receiver(200).await;
        let channel = WebhookChannel::new(&rx.url, SECRET, clock()).unwrap();
        let e = channel.send(&message("email")).await.unwrap_err();
        assert!(e.permanent);
        assert!(rx.requests().is_empty());
    }

    #[tokio::test]
    async fn failures_are_classified() {
        for (status, permanent) in [
            (500, false),
            (503, false),
            (429, false),
            (408, false),
            (409, false),
            (425, false),
            (400, true),
            (404, true),
            (410, true),
            (422, true),
            (302, false),
        ] {
            let rx = receiver(status).await;
            let channel = WebhookChannel::new(&rx.url, SECRET, clock()).unwrap();
            let e = channel.send(&message("sms")).await.unwrap_err();
            assert_eq!(e.permanent, permanent, "{status}: {e}");
            assert!(e.message.contains(&status.to_string()), "{e}");
            // the receiver's answer (which may echo the code) stays out of the error
            assert!(!e.message.contains("123456"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_transient() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        drop(listener);
        let channel = WebhookChannel::new(&format!("http://{addr}/sms"), SECRET, clock()).unwrap();
        let e = channel.send(&message("sms")).await.unwrap_err();
        assert!(!e.permanent, "{e}");
        assert!(e.message.starts_with("webhook: cannot connect"), "{e}");
        assert!(!e.message.contains(&addr.to_string()), "{e}");
    }

    #[test]
    fn only_http_urls_and_a_secret_are_accepted() {
        let c = || -> Arc<dyn Clock> { clock() };
        assert!(WebhookChannel::new("https://hooks.example.com/sms", SECRET, c()).is_ok());
        assert!(WebhookChannel::new("http://127.0.0.1:9000/sms", SECRET, c()).is_ok());
        for bad in [
            "ftp://example.com/sms",
            "example.com/sms",
            "http://",
            "/sms",
            "",
        ] {
            assert!(WebhookChannel::new(bad, SECRET, c()).is_err(), "{bad}");
        }
        assert!(WebhookChannel::new("https://hooks.example.com/sms", b"", c()).is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let channel = WebhookChannel::new(
            "https://user:hunter2@hooks.example.com/sms?token=abc#frag",
            SECRET,
            clock(),
        )
        .unwrap();
        let shown = format!("{channel:?}");
        assert!(shown.contains("hooks.example.com/sms"), "{shown}");
        for secret in ["whsec", "hunter2", "abc", "frag"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
