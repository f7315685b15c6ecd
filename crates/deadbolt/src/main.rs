//! The `deadbolt` command. Each subcommand lives in its own file under `commands/`.

mod commands;

/// mimalloc rather than glibc's malloc: a request's memory is often freed on another runtime
/// thread than the one that allocated it (a group commit frees the batches of other requests,
/// tasks move between threads), and glibc serialises such frees on the allocating arena's
/// lock, where the sign-in benchmark's threads spent a tenth of their time waiting.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "deadbolt",
    version,
    about = "Accounts, sign-in and multi-factor authentication"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct ConfigArg {
    /// A TOML config file; every key can also be set as DEADBOLT_SECTION__KEY.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (no config: SQLite and keys under ./deadbolt-data/, on 127.0.0.1:8080).
    Serve(ConfigArg),
    /// Bring the database schema up to date.
    Migrate(ConfigArg),
    /// Account administration.
    Admin {
        #[command(subcommand)]
        command: commands::admin::AdminCommand,
    },
    /// OpenID Connect clients (relying parties).
    Clients {
        #[command(subcommand)]
        command: commands::clients::ClientsCommand,
    },
    /// Master key rotation.
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCommand,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: commands::config::ConfigCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(c) => commands::serve::run(&c).await,
            Command::Migrate(c) => commands::migrate::run(&c).await,
            Command::Admin { command } => commands::admin::run(command).await,
            Command::Clients { command } => commands::clients::run(command).await,
            Command::Keys { command } => commands::keys::run(command).await,
            Command::Config { command } => commands::config::run(command),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
