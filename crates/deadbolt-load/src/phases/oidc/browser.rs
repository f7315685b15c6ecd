//! A signed-in browser: the cookies the server set, and its sign-in on the hosted pages.

use super::*;

/// A browser of sorts: the cookies the server set, as the Cookie header sends them back.
#[derive(Default)]
pub(super) struct Jar {
    pub(super) cookies: Vec<(String, String)>,
    pub(super) header: String,
}

impl Jar {
    /// Keeps every Set-Cookie of an answer (an empty value clears the cookie).
    pub(super) fn keep(&mut self, headers: &HeaderMap) {
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

    pub(super) fn has(&self, part_of_name: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n.contains(part_of_name))
    }
}

/// A signed-in browser: its own connection (redirects are not followed: the harness reads
/// them) and its cookies.
pub(super) struct Browser {
    pub(super) http: reqwest::Client,
    pub(super) jar: Jar,
    pub(super) shared: Arc<Shared>,
}

pub(super) fn no_redirects() -> Result<reqwest::Client> {
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
pub(super) async fn sign_in(base: &str, origin: &str, shared: Arc<Shared>) -> Result<Browser> {
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
