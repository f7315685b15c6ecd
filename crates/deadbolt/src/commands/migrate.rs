//! `deadbolt migrate`.

use crate::ConfigArg;

pub async fn run(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = super::load_config(arg)?;
    super::init_logging(&config);
    let store = deadbolt_store::Store::open(&config.database.url, 1)?;
    let applied = store.migrate().await?;
    println!("applied {applied} migration(s); the schema is up to date");
    Ok(())
}
