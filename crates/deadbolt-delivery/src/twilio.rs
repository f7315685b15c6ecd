//! SMS and voice through Twilio's REST API: a text through the Messages resource, a call that
//! says the message twice through the Calls resource (inline TwiML).
//!
//! A 2xx answer (Twilio's is 201 Created) acknowledges the message. 5xx, 429, 408, timeouts and
//! connection failures are retried with backoff, and so are 401 and 403: a wrong SID or token is
//! fixed in the configuration, and the message should still go out then (the worker's retry cap
//! ends it otherwise). Any other 4xx refuses the message itself (an invalid number, say) and is
//! not retried; Twilio's error code and text go into the error. The auth token and the message
//! body never do.

use crate::webhook::{http_client, http_url, request_error};
use crate::{Channel, DeliveryError};
use async_trait::async_trait;
use deadbolt_store::OutboxMessage;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Twilio's API, the default `base_url`.
pub const TWILIO_API: &str = "https://api.twilio.com";

/// How much of Twilio's error text goes into an error.
const MAX_ERROR_TEXT: usize = 300;

/// Delivers SMS and voice messages through Twilio. Its `Debug` output leaves the token out.
pub struct TwilioChannel {
    client: reqwest::Client,
    messages_url: Url,
    calls_url: Url,
    account_sid: String,
    auth_token: Zeroizing<String>,
    from: String,
}

impl std::fmt::Debug for TwilioChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioChannel")
            .field("messages_url", &self.messages_url.as_str())
            .field("calls_url", &self.calls_url.as_str())
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The part of Twilio's error document that goes into an error.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioChannel {
    /// `base_url` is [`TWILIO_API`] in production (a local double in tests); `from` is a Twilio
    /// number of the account in E.164 form (`+12015550123`).
    pub fn new(
        base_url: &str,
        account_sid: &str,
        auth_token: &str,
        from: &str,
    ) -> anyhow::Result<Self> {
        let base =
            http_url(base_url).map_err(|e| anyhow::anyhow!("invalid twilio base url: {e}"))?;
        anyhow::ensure!(
            base.query().is_none()
                && base.fragment().is_none()
                && base.username().is_empty()
                && base.password().is_none(),
            "invalid twilio base url: no credentials, query or fragment"
        );
        anyhow::ensure!(
            !account_sid.is_empty() && account_sid.bytes().all(|b| b.is_ascii_alphanumeric()),
            "invalid twilio account sid: letters and digits (AC…)"
        );
        anyhow::ensure!(
            !auth_token.is_empty(),
            "the twilio auth token must not be empty"
        );
        anyhow::ensure!(
            is_e164(from),
            "invalid twilio from number: E.164 (+ and up to 15 digits)"
        );
        let endpoint = |resource: &str| {
            let base = base.as_str().trim_end_matches('/');
            Url::parse(&format!(
                "{base}/2010-04-01/Accounts/{account_sid}/{resource}.json"
            ))
            .map_err(|e| anyhow::anyhow!("invalid twilio base url: {e}"))
        };
        Ok(Self {
            client: http_client()?,
            messages_url: endpoint("Messages")?,
            calls_url: endpoint("Calls")?,
            account_sid: account_sid.to_owned(),
            auth_token: Zeroizing::new(auth_token.to_owned()),
            from: from.to_owned(),
        })
    }
}

#[async_trait]
impl Channel for TwilioChannel {
    async fn send(&self, m: &OutboxMessage) -> Result<(), DeliveryError> {
        let twiml;
        let (url, content) = match m.channel.as_str() {
            "sms" => (&self.messages_url, ("Body", m.body_text.as_str())),
            "voice" => {
                twiml = say_twice(&m.body_text);
                (&self.calls_url, ("Twiml", twiml.as_str()))
            }
            other => {
                return Err(DeliveryError {
                    message: format!("twilio: cannot carry channel {other:?}"),
                    permanent: true,
                    unreachable: false,
                })
            }
        };
        let response = self
            .client
            .post(url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.as_str()))
            .form(&[
                ("To", m.recipient.as_str()),
                ("From", self.from.as_str()),
                content,
            ])
            .send()
            .await
            .map_err(|e| request_error("twilio", &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The error document; a broken or missing one still leaves the status.
        let detail = response
            .bytes()
            .await
            .ok()
            .and_then(|body| serde_json::from_slice::<TwilioError>(&body).ok())
            .map(|e| describe(&e))
            .unwrap_or_default();
        Err(DeliveryError {
            message: format!("twilio: {status}{detail}"),
            permanent: is_permanent(status),
            unreachable: false,
        })
    }
}

/// Twilio refused the message itself: a 4xx other than a wrong SID or token (401, 403), a rate
/// limit (429) or a timeout (408).
fn is_permanent(status: StatusCode) -> bool {
    status.is_client_error() && !matches!(status.as_u16(), 401 | 403 | 408 | 429)
}

/// `: error <code>: <message>` from Twilio's error document, as far as it has them.
fn describe(e: &TwilioError) -> String {
    let mut text = String::new();
    if let Some(code) = e.code {
        text.push_str(&format!(": error {code}"));
    }
    if let Some(message) = e.message.as_deref().filter(|s| !s.is_empty()) {
        text.push_str(": ");
        text.extend(
            message
                .chars()
                .take(MAX_ERROR_TEXT)
                .map(|c| if c.is_control() { ' ' } else { c }),
        );
    }
    text
}

/// A call that says `text`, pauses a second, and says it again.
fn say_twice(text: &str) -> String {
    let said = xml_escape(text);
    format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>")
}

/// `text` as XML character data: markup escaped, characters XML cannot hold made spaces.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || matches!(c, '\u{fffe}' | '\u{ffff}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `+` and 2 to 15 digits, the first not 0.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
    use deadbolt_core::ids::MessageId;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "tok-5ecret-auth-token";
    const FROM: &str = "+15005550006";
    const BODY: &str = "Your Deadbolt code is 1 2 3 4 5 6 <&> \"it's\"";

    #[derive(Clone)]
    struct Received {
        path: String,
        headers: HeaderMap,
        body: Bytes,
    }

    /// A real HTTP server on 127.0.0.1 that records requests and answers `status` with `reply`.
    struct Receiver {
        base: String,
        received: Arc<Mutex<Vec<Received>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Receiver {
        fn requests(&self) -> Vec<Received> {
            self.received.lock().unwrap().clone()
        }
    }

    async fn receiver(status: u16, reply: &'static str) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let status = AxumStatus::from_u16(status).unwrap();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body,
                });
                (
                    status,
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    reply,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            base: format!("http://{addr}"),
            received,
            task,
        }
    }

    fn message(channel: &str) -> OutboxMessage {
        OutboxMessage {
            id: MessageId(uuid::Uuid::from_u128(7)),
            channel: channel.to_owned(),
            recipient: "+12015550123".to_owned(),
            subject: "Your code".to_owned(),
            body_text: BODY.to_owned(),
            body_html: None,
            attempts: 0,
            created_at: datetime!(2030-01-02 03:00:00 UTC),
        }
    }

    fn channel(base: &str) -> TwilioChannel {
        TwilioChannel::new(base, SID, TOKEN, FROM).unwrap()
    }

    fn form(r: &Received) -> HashMap<String, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&r.body).unwrap();
        let n = pairs.len();
        let map: HashMap<_, _> = pairs.into_iter().collect();
        assert_eq!(map.len(), n, "a repeated field");
        map
    }

    fn check_auth(r: &Received) {
        let auth = r.headers["authorization"].to_str().unwrap();
        let encoded = auth.strip_prefix("Basic ").unwrap();
        let decoded = data_encoding::BASE64.decode(encoded.as_bytes()).unwrap();
        assert_eq!(decoded, format!("{SID}:{TOKEN}").as_bytes());
        assert_eq!(
            r.headers["content-type"].to_str().unwrap(),
            "application/x-www-form-urlencoded"
        );
    }

    const CREATED: &str = r#"{"sid":"SM0123","status":"queued"}"#;

    #[tokio::test]
    async fn sms_goes_to_messages() {
        let rx = receiver(201, CREATED).await;
        channel(&rx.base).send(&message("sms")).await.unwrap();
        let got = rx.requests();
        assert_eq!(got.len(), 1);
        let r = &got[0];
        assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
        check_auth(r);
        let form = form(r);
        assert_eq!(form.len(), 3);
        assert_eq!(form["To"], "+12015550123");
        assert_eq!(form["From"], FROM);
        assert_eq!(form["Body"], BODY);
    }

    #[tokio::test]
    async fn voice_calls_and_says_the_message_twice() {
        let rx = receiver(201, CREATED).await;
        // a trailing slash on the base is fine
        let base = format!("{}/", rx.base);
        channel(&base).send(&message("voice")).await.unwrap();
        let got = rx.requests();
        assert_eq!(got.len(), 1);
        let r = &got[0];
        assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Calls.json"));
        check_auth(r);
        let form = form(r);
        assert_eq!(form.len(), 3);
        assert_eq!(form["To"], "+12015550123");
        assert_eq!(form["From"], FROM);
        let said = "Your Deadbolt code is 1 2 3 4 5 6 &lt;&amp;&gt; &quot;it&apos;s&quot;";
        assert_eq!(
            form["Twiml"],
            format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>")
        );
        assert_eq!(form["Twiml"].matches(said).count(), 2);
    }

    #[tokio::test]
    async fn an_invalid_number_is_permanent_with_twilio_s_code() {
        let rx = receiver(
            400,
            r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
        )
        .await;
        let e = channel(&rx.base).send(&message("sms")).await.unwrap_err();
        assert!(e.permanent, "{e}");
        assert!(e.message.contains("21211"), "{e}");
        assert!(
            e.message
                .contains("The 'To' number is not a valid phone number."),
            "{e}"
        );
        assert!(e.message.contains("400"), "{e}");
        assert!(!e.message.contains(TOKEN), "{e}");
        assert!(!e.message.contains("Deadbolt code"), "{e}");
    }

    #[tokio::test]
    async fn failures_are_classified() {
        for (status, reply, permanent) in [
            (503, "Service Unavailable", false),
            (500, "{}", false),
            (
                429,
                r#"{"code":20429,"message":"Too Many Requests"}"#,
                false,
            ),
            (401, r#"{"code":20003,"message":"Authenticate"}"#, false),
            (403, r#"{"code":20003,"message":"Forbidden"}"#, false),
            (404, r#"{"code":20404,"message":"Not found"}"#, true),
            (422, "not json", true),
        ] {
            let rx = receiver(status, reply).await;
            let e = channel(&rx.base).send(&message("voice")).await.unwrap_err();
            assert_eq!(e.permanent, permanent, "{status}: {e}");
            assert!(e.message.starts_with(&format!("twilio: {status}")), "{e}");
            assert!(!e.message.contains(TOKEN), "{e}");
            assert!(!e.message.contains("Deadbolt code"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_transient() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = channel(&format!("http://{addr}"))
            .send(&message("sms"))
            .await
            .unwrap_err();
        assert!(!e.permanent, "{e}");
        assert!(e.message.starts_with("twilio: cannot connect"), "{e}");
        assert!(!e.message.contains(TOKEN), "{e}");
    }

    #[tokio::test]
    async fn email_is_refused_without_a_request() {
        let rx = receiver(201, CREATED).await;
        let e = channel(&rx.base).send(&message("email")).await.unwrap_err();
        assert!(e.permanent);
        assert!(rx.requests().is_empty());
    }

    #[test]
    fn debug_leaves_the_token_out() {
        let shown = format!("{:?}", channel(TWILIO_API));
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains(SID), "{shown}");
        assert!(
            shown.contains(&format!(
                "https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
            )),
            "{shown}"
        );
    }

    #[test]
    fn configuration_is_checked() {
        assert!(TwilioChannel::new(TWILIO_API, SID, TOKEN, FROM).is_ok());
        for (base, sid, token, from) in [
            ("ftp://api.twilio.com", SID, TOKEN, FROM),
            ("api.twilio.com", SID, TOKEN, FROM),
            ("https://api.twilio.com?x=1", SID, TOKEN, FROM),
            ("https://sid:tok@api.twilio.com", SID, TOKEN, FROM),
            (TWILIO_API, "", TOKEN, FROM),
            (TWILIO_API, "AC12/../x", TOKEN, FROM),
            (TWILIO_API, SID, "", FROM),
            (TWILIO_API, SID, TOKEN, "15005550006"),
            (TWILIO_API, SID, TOKEN, "+1 500 555 0006"),
            (TWILIO_API, SID, TOKEN, "+0123"),
            (TWILIO_API, SID, TOKEN, "+1234567890123456"),
        ] {
            let made = TwilioChannel::new(base, sid, token, from);
            assert!(made.is_err(), "{base} {sid} {from}");
            let e = made.unwrap_err().to_string();
            assert!(!e.contains(TOKEN), "{e}");
        }
    }

    #[test]
    fn xml_escaping() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(xml_escape("1\u{0}2\u{1b}3\n4"), "1 2 3\n4");
        assert_eq!(xml_escape("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}");
    }
}
