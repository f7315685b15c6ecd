//! URL helpers shared by the sections that hold URLs.

/// A URL without its password, for logs and `Debug`: `postgres://app:***@db/auth`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn passwords_in_urls_never_reach_debug_output() {
        let mut c = Config::default();
        c.database.url = "postgres://app:s3cret@db/auth".into();
        c.email.smtp_url = "smtps://mailer:hunter2@smtp.example.com:465".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:***@db/auth"));
        assert_eq!(
            redact_url("sqlite://./deadbolt-data/deadbolt.db"),
            "sqlite://./deadbolt-data/deadbolt.db"
        );
    }
}
