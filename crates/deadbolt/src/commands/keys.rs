//! `deadbolt keys rotate`.

use crate::ConfigArg;
use clap::Subcommand;
use deadbolt_server::system::OsRandom;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new master key and re-seal every stored secret under it. Running instances keep
    /// answering: they pick up the new key from the file when they first meet it. Old keys stay
    /// in the file until `--prune`.
    Rotate {
        #[command(flatten)]
        config: ConfigArg,
        /// Instead of rotating, drop from the key file the keys no stored secret uses any more
        /// (run once every instance has been rotated).
        #[arg(long)]
        prune: bool,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Rotate { config, prune } = command;
    let config = super::load_config(&config)?;
    super::init_logging(&config);
    let store = deadbolt_server::app::open_store(&config).await?;
    let file = &config.secrets.master_key_file;
    if prune {
        let removed = deadbolt_server::rotation::prune(&store, file).await?;
        println!(
            "removed {removed} unused master key(s) from {}",
            file.display()
        );
    } else {
        let r = deadbolt_server::rotation::rotate(&store, file, &OsRandom).await?;
        println!(
            "new master key {}: re-sealed {} service key(s) and {} TOTP secret(s)",
            r.new_key_id, r.service_keys, r.totp_secrets
        );
    }
    Ok(())
}
