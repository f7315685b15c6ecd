//! `deadbolt keys rotate`: the master key, or with `--signing`/`--hashing` a service key.

use crate::ConfigArg;
use clap::Subcommand;
use deadbolt_usecases::rotation::SigningRotation;
use deadbolt_usecases::system::{OsRandom, SystemClock};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new master key and re-seal every stored secret under it. Running instances keep
    /// answering: they pick up the new key from the file when they first meet it. Old keys stay
    /// in the file until `--prune`. With `--signing` or `--hashing`, rotate that service key
    /// instead.
    #[command(group(clap::ArgGroup::new("service_key").args(["signing", "hashing"])))]
    Rotate {
        #[command(flatten)]
        config: ConfigArg,
        /// Instead of rotating, drop from the key file the keys no stored secret uses any more
        /// (run once every instance has been rotated).
        #[arg(long, conflicts_with = "service_key")]
        prune: bool,
        /// Rotate the keys that sign tokens, both at once: the Ed25519 key (access and step-up
        /// tokens, EdDSA) and the RSA key (OpenID Connect ID tokens of clients registered with
        /// RS256). New keys (new `kid`s) sign at once on every instance (within a second); the
        /// old ones stay in the JWKS and verify until the longest-lived token they signed has
        /// expired, then go.
        #[arg(long)]
        signing: bool,
        /// Rotate the key that hashes refresh tokens, trusted-device tokens, API keys, recovery
        /// codes and one-time codes: a new key hashes at once on every instance (within a
        /// second). The old one still finds refresh tokens and trusted devices until the last
        /// it may have hashed has ended (the session lifetime, or the last trusted device's
        /// end), and API keys and recovery codes for as long as each lives unused: each is
        /// hashed anew under the new key when used, and the old key is deleted once none needs
        /// it. Codes, challenges and tokens of a sign-in step under way may need to be asked for
        /// again.
        #[arg(long)]
        hashing: bool,
        /// With `--signing` or `--hashing`, for a key that leaked: the old key ends at once.
        /// Signing: every token the old keys signed is refused (clients refresh their sessions).
        /// Hashing: every older hashing key is deleted, so every refresh token, trusted device,
        /// API key and recovery code hashed under one stops working: users sign in again, API
        /// keys are revoked and recovery codes spent (users make new ones).
        #[arg(long, requires = "service_key")]
        now: bool,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Rotate {
        config,
        prune,
        signing,
        hashing,
        now,
    } = command;
    let config = super::load_config(&config)?;
    super::init_logging(&config);
    let store = deadbolt_usecases::context::open_store(&config).await?;
    let file = &config.secrets.master_key_file;
    if signing {
        let r = deadbolt_usecases::rotation::rotate_signing(
            &store,
            &config,
            &SystemClock,
            &OsRandom,
            now,
        )
        .await?;
        for line in describe_signing(&r, now) {
            println!("{line}");
        }
    } else if hashing {
        let r = deadbolt_usecases::rotation::rotate_hashing(
            &store,
            &config,
            &SystemClock,
            &OsRandom,
            now,
        )
        .await?;
        let old = r.old_id.as_deref().unwrap_or("-");
        match r.old_verifies_until_rfc3339() {
            None => println!(
                "new hashing key {}: hashes from now on; the old key {old} and every older one \
                 are deleted: every refresh token and trusted device hashed under them no longer \
                 works, {} API key(s) were revoked, and {} account(s) had their unused recovery \
                 codes spent",
                r.new_id, r.api_keys, r.recovery_accounts
            ),
            Some(until) => println!(
                "new hashing key {}: hashes from now on; the old key {old} finds refresh tokens \
                 and trusted devices until {}, and API keys and recovery codes until each has \
                 been used once ({} live API key(s), unused recovery codes on {} account(s))",
                r.new_id, until, r.api_keys, r.recovery_accounts
            ),
        }
    } else if prune {
        let removed = deadbolt_usecases::rotation::prune(&store, file).await?;
        println!(
            "removed {removed} unused master key(s) from {}",
            file.display()
        );
    } else {
        let r = deadbolt_usecases::rotation::rotate(&store, file, &OsRandom).await?;
        println!(
            "new master key {}: re-sealed {} service key(s), {} TOTP secret(s), {} push token(s) and {} waiting message(s)",
            r.new_key_id, r.service_keys, r.totp_secrets, r.push_tokens, r.messages
        );
    }
    Ok(())
}

/// What a signing-key rotation did, a line for each kind of key.
fn describe_signing(r: &SigningRotation, now: bool) -> [String; 2] {
    let until = r.old_verifies_until_rfc3339();
    let line = |what: &str, new: &str, old: Option<&str>| match old {
        Some(old) if now => {
            format!("{what} {new}: signs from now on; the old key {old} no longer verifies")
        }
        Some(old) => {
            format!("{what} {new}: signs from now on; the old key {old} verifies until {until}")
        }
        None => format!("{what} {new}"),
    };
    [
        line("new signing key", &r.new_kid, r.old_kid.as_deref()),
        line(
            "new RS256 signing key",
            &r.new_rs256_kid,
            r.old_rs256_kid.as_deref(),
        ),
    ]
}
