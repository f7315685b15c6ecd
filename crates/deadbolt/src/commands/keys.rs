//! `deadbolt keys rotate`.

use crate::ConfigArg;
use clap::Subcommand;
use deadbolt_server::system::{OsRandom, SystemClock};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new master key and re-seal every stored secret under it. Running instances keep
    /// answering: they pick up the new key from the file when they first meet it. Old keys stay
    /// in the file until `--prune`. With `--signing`, rotate the token-signing key instead.
    Rotate {
        #[command(flatten)]
        config: ConfigArg,
        /// Instead of rotating, drop from the key file the keys no stored secret uses any more
        /// (run once every instance has been rotated).
        #[arg(long, conflicts_with = "signing")]
        prune: bool,
        /// Rotate the key that signs access and step-up tokens: a new key (a new `kid`) signs
        /// at once on every instance (within a second); the old one stays in the JWKS and
        /// verifies until the longest-lived token it signed has expired, then goes.
        #[arg(long)]
        signing: bool,
        /// With `--signing`, for a key that leaked: the old key stops verifying at once, so
        /// every access token signed with it is refused (clients refresh their sessions).
        #[arg(long, requires = "signing")]
        now: bool,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Rotate {
        config,
        prune,
        signing,
        now,
    } = command;
    let config = super::load_config(&config)?;
    super::init_logging(&config);
    let store = deadbolt_server::app::open_store(&config).await?;
    let file = &config.secrets.master_key_file;
    if signing {
        let r = deadbolt_server::rotation::rotate_signing(
            &store,
            &config,
            &SystemClock,
            &OsRandom,
            now,
        )
        .await?;
        let until = r.old_verifies_until_rfc3339();
        match r.old_kid {
            Some(old) if now => println!(
                "new signing key {}: signs from now on; the old key {old} no longer verifies",
                r.new_kid
            ),
            Some(old) => println!(
                "new signing key {}: signs from now on; the old key {old} verifies until {until}",
                r.new_kid
            ),
            None => println!("new signing key {}", r.new_kid),
        }
    } else if prune {
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
