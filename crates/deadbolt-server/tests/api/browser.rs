//! A browser of sorts for the page tests: cookies kept, redirects not followed, the form's CSRF
//! token found in each page.

use crate::helpers::{TestApp, PASSWORD};
use reqwest::header::{HeaderMap, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use std::collections::HashMap;

/// The public URL the test app runs under (`helpers::spawn_app`): plain http, not localhost,
/// so the cookies are Secure and `__Host-` prefixed.
pub const ORIGIN_URL: &str = "http://deadbolt.test";

/// A browser of sorts: keeps the cookies it is given and finds the form token.
pub struct Browser {
    pub client: reqwest::Client,
    pub cookies: HashMap<String, String>,
    pub csrf: String,
    /// The client address a trusted proxy reports (X-Forwarded-For), if any.
    pub from: Option<&'static str>,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .user_agent("deadbolt-page-tests/1.0")
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            csrf: String::new(),
            from: None,
        }
    }

    pub fn keep(&mut self, headers: &HeaderMap) {
        for c in headers.get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    pub fn request(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let r = r.header(COOKIE, self.cookie_header());
        match self.from {
            Some(ip) => r.header("x-forwarded-for", ip),
            None => r,
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, app: &TestApp, path: &str) -> (u16, HeaderMap, String) {
        let r = self
            .request(self.client.get(app.url(path)))
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        self.keep(&headers);
        let body = r.text().await.unwrap();
        if let Some(token) = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            self.csrf = token.to_owned();
        }
        (status, headers, body)
    }

    pub async fn post_raw(
        &mut self,
        app: &TestApp,
        path: &str,
        origin: &str,
        body: Vec<u8>,
    ) -> (u16, HeaderMap, String) {
        let r = self
            .request(self.client.post(app.url(path)))
            .header(ORIGIN, origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        self.keep(&headers);
        (status, headers, r.text().await.unwrap())
    }

    /// Opens the sign-in page and signs in with the password: the answer to the form.
    pub async fn sign_in(&mut self, app: &TestApp, email: &str) -> (u16, HeaderMap, String) {
        self.get(app, "/sign-in").await;
        self.post(app, "/sign-in", &[("email", email), ("password", PASSWORD)])
            .await
    }

    pub async fn post(
        &mut self,
        app: &TestApp,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, HeaderMap, String) {
        let mut all = vec![("csrf", self.csrf.clone())];
        all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let body = serde_urlencoded::to_string(&all).unwrap().into_bytes();
        self.post_raw(app, path, ORIGIN_URL, body).await
    }
}
