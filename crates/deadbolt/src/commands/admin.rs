//! `deadbolt admin create`.

use crate::ConfigArg;
use clap::Subcommand;
use deadbolt_core::secret::Secret;
use deadbolt_usecases::accounts::{create_by_operator, OperatorAccount};
use deadbolt_usecases::system::{OsRandom, SystemClock};
use std::io::Read;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an account (verified: the operator vouches for the address).
    Create {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        email: String,
        /// Read the password from standard input (never from the command line, where other
        /// users could see it).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// A role to give, such as `admin`; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Create {
        config,
        email,
        password_stdin: _,
        roles,
    } = command;
    let config = super::load_config(&config)?;
    super::init_logging(&config);
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = Secret::new(password.trim_end_matches(['\r', '\n']));
    let state =
        deadbolt_usecases::Context::open(config, Arc::new(SystemClock), Arc::new(OsRandom)).await?;
    let account = create_by_operator(
        &state,
        OperatorAccount {
            email,
            password,
            roles,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let roles: Vec<&str> = account.roles.iter().map(|r| r.as_str()).collect();
    println!(
        "created account {} <{}> roles=[{}]",
        account.id,
        account.email,
        roles.join(", ")
    );
    Ok(())
}
