//! `deadbolt config check`.

use crate::ConfigArg;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Report every problem in a configuration (file plus environment), each with its key.
    Check(ConfigArg),
}

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Check(arg) = command;
    match deadbolt_server::Config::load(arg.config.as_deref(), std::env::vars()) {
        Ok(config) => {
            for w in config.warnings() {
                println!("warning: {w}");
            }
            println!("configuration is valid");
            Ok(())
        }
        Err(errors) => {
            for p in &errors.0 {
                println!("{p}");
            }
            anyhow::bail!("{} problem(s) in the configuration", errors.0.len())
        }
    }
}
