//! `deadbolt serve`.

use crate::ConfigArg;
use deadbolt_server::Application;

pub async fn run(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = super::load_config(arg)?;
    super::init_logging(&config);
    let database = config.database.url.clone();
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    tracing::info!(database = %deadbolt_server::config::redact_url(&database), "deadbolt listening on http://{addr}");
    app.run_until_stopped().await?;
    Ok(())
}
