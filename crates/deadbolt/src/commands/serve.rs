//! `deadbolt serve`.

use crate::ConfigArg;
use deadbolt_server::Application;

pub async fn run(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = super::load_config(arg)?;
    super::init_logging(&config);
    let database = config.database.url.clone();
    let public_url = config.server.public_url.trim_end_matches('/').to_owned();
    let mail = config
        .email
        .writes_files()
        .then(|| config.email.file_dir.clone());
    let texts = (config.sms.provider == "file").then(|| config.sms.file_dir.clone());
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    tracing::info!(database = %deadbolt_server::config::redact_url(&database), "deadbolt listening on http://{addr}");
    tracing::info!("open {public_url}/ to sign up and sign in");
    if let Some(dir) = mail {
        tracing::info!(
            "mail is written to files under {}/ (one .eml per message), not sent: set [email] smtp_url to send it",
            dir.display()
        );
    }
    if let Some(dir) = texts {
        tracing::info!(
            "texts and calls are written to files under {}/, not sent",
            dir.display()
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}
