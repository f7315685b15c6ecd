pub mod admin;
pub mod clients;
pub mod config;
pub mod keys;
pub mod migrate;
pub mod serve;

use crate::ConfigArg;
use deadbolt_server::Config;

/// The configuration from `--config` and the environment, or every problem with it.
pub fn load_config(arg: &ConfigArg) -> anyhow::Result<Config> {
    Config::load(arg.config.as_deref(), std::env::vars()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Logs to stderr at the configured level; `RUST_LOG` wins when set.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
