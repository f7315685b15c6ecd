//! `deadbolt serve`.

use crate::ConfigArg;
use deadbolt_server::Application;

pub async fn run(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = super::load_config(arg)?;
    super::init_logging(&config);
    let database = config.database.url.clone();
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    tracing::info!(database = %redact(&database), "deadbolt listening on http://{addr}");
    app.run_until_stopped().await?;
    Ok(())
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db/auth"),
            "postgres://app:***@db/auth"
        );
        assert_eq!(
            super::redact("sqlite://./deadbolt-data/deadbolt.db"),
            "sqlite://./deadbolt-data/deadbolt.db"
        );
    }
}
