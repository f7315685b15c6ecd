//! The servers the harness starts itself: `deadbolt serve` (the binary next to this one) on a
//! free loopback port, configured per phase, with its files in the run's temporary directory.

use crate::cli::Common;
use crate::tally::client;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a spawned server may take to answer /healthz.
const STARTUP: Duration = Duration::from_secs(30);

/// The MFA server's Argon2id costs: its setup makes two hashes and two verifications per
/// account, and thousands of accounts.
pub const MFA_ARGON2_M_KIB: u32 = 256;
pub const MFA_ARGON2_T: u32 = 1;

/// How a spawned server is configured.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The server's default Argon2 costs, login limits out of the way: the login and session
    /// phases.
    Default,
    /// Cheap Argon2, no zxcvbn floor, a lenient MFA lockout and hour-long mfa_tokens: the MFA
    /// phases' setup makes thousands of accounts, and only what follows is timed.
    CheapMfa,
    /// The defaults a deployment runs with (costs and per-address limits), behind a proxy the
    /// server believes (loopback), so that a storm can come from many client addresses.
    Overload,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "load",
            Self::CheapMfa => "mfa",
            Self::Overload => "overload",
        }
    }

    /// The `[limits]`, `[password]` and `[lockout]` sections of this profile.
    fn sections(self) -> String {
        match self {
            // one account logs in thousands of times; sign-ups per address unlimited
            // (and every worker's device asks from the one address)
            Self::Default => "[limits]\n\
                              login_failures_per_account = 1000000\n\
                              login_failures_per_ip = 1000000\n\
                              signups_per_ip_per_hour = 1000000\n\
                              device_authorizations_per_ip_per_minute = 1000000\n"
                .to_owned(),
            Self::CheapMfa => format!(
                "[limits]\n\
                 login_failures_per_account = 1000000\n\
                 login_failures_per_ip = 1000000\n\
                 signups_per_ip_per_hour = 1000000\n\
                 [password]\n\
                 # setup makes thousands of accounts; their hashes are not what is measured\n\
                 memory_kib = {MFA_ARGON2_M_KIB}\n\
                 iterations = {MFA_ARGON2_T}\n\
                 min_score = 0\n\
                 hash_queue = 4096\n\
                 [lockout]\n\
                 account_max_failures = 1000\n\
                 token_ttl_seconds = 3600\n"
            ),
            // the default limits: the storms come from many addresses, each under its limit
            Self::Overload => String::new(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// A server at --url.
    Unknown,
}

/// A `deadbolt serve` started by the harness in a temporary directory.
pub struct Spawned {
    pub child: tokio::process::Child,
    pub base: String,
    pub database: String,
    pub backend: Backend,
    /// Where the server writes its mail (the MFA profile: each account proves its address).
    pub mail_dir: Option<PathBuf>,
    /// The `deadbolt` binary and the config it was started with, for its own commands against
    /// the same database (`deadbolt clients create`).
    pub bin: PathBuf,
    pub config: PathBuf,
}

impl Spawned {
    pub async fn start(common: &Common, dir: &Path, profile: Profile) -> Result<Self> {
        let bin = match &common.server_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()
                .context("locating this executable")?
                .with_file_name(format!("deadbolt{}", std::env::consts::EXE_SUFFIX)),
        };
        ensure!(
            bin.is_file(),
            "no server binary at {} (build it: cargo build --release -p deadbolt -p deadbolt-load)",
            bin.display()
        );
        let name = profile.name();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let database_url = match &common.database_url {
            Some(url) => url.clone(),
            // a fresh file per server
            None => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        };
        let (database, backend) = if database_url.starts_with("sqlite://") {
            ("SQLite".to_owned(), Backend::Sqlite)
        } else {
            (
                "PostgreSQL; its CPU counts as other processes'".to_owned(),
                Backend::Postgres,
            )
        };
        // the overload storms send X-Forwarded-For from loopback, as a proxy in front would
        let proxies = match profile {
            Profile::Overload => "trusted_proxies = [\"127.0.0.1/32\"]\n",
            _ => "",
        };
        let mut config = format!(
            "[server]\n\
             bind = \"127.0.0.1:{port}\"\n\
             public_url = \"http://127.0.0.1:{port}\"\n\
             {proxies}\
             [database]\n\
             url = {}\n\
             [secrets]\n\
             master_key_file = {}\n\
             [log]\n\
             level = \"warn\"\n\
             {}",
            toml_string(&database_url),
            toml_string(&dir.join("master.key").display().to_string()),
            profile.sections(),
        );
        let mail_dir = match profile {
            Profile::Default => None,
            _ => Some(dir.join(format!("{name}-mail"))),
        };
        match &mail_dir {
            // the MFA setup proves each address with the code mailed to it; the sign-up storm's
            // mail is written as a deployment would send it
            Some(mail) => config.push_str(&format!(
                "[email]\nfile_dir = {}\n",
                toml_string(&mail.display().to_string())
            )),
            // mail is not part of the benchmark: delivery retries in the background
            None => config.push_str("[email]\nsmtp_url = \"smtp://127.0.0.1:1\"\n"),
        }
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config).context("writing the server config")?;
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone().context("opening the server log")?;

        let child = tokio::process::Command::new(&bin)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            // the configured level applies (per-request logging would cost the server time)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            database,
            backend,
            mail_dir,
            bin,
            config: config_path,
        };
        if let Err(e) = server.wait_ready().await {
            server.stop().await;
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("{e:#}\nserver log:\n{log}");
        }
        Ok(server)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let client = client(1)?;
        let url = format!("{}/healthz", self.base);
        let start = Instant::now();
        while start.elapsed() < STARTUP {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited during startup ({status})");
            }
            if let Ok(r) = client.get(url.as_str()).send().await {
                if r.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server did not answer /healthz within {STARTUP:?}")
    }

    /// Whether the process is still running (a storm must not have killed it).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server (its files stay; `main` removes the directory).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The server at --url, or one spawned with `profile` in `dir`.
pub async fn serve(
    common: &Common,
    dir: Option<&Path>,
    profile: Profile,
) -> Result<(String, Option<Spawned>)> {
    if let Some(url) = &common.url {
        return Ok((url.trim_end_matches('/').to_owned(), None));
    }
    let dir = dir.context("no directory for the server")?;
    let server = Spawned::start(common, dir, profile).await?;
    Ok((server.base.clone(), Some(server)))
}

/// What is being measured: a server the harness spawned, or one at --url.
pub fn describe(base: &str, server: Option<&Spawned>) -> String {
    match server {
        Some(s) => format!("server spawned by the harness ({})", s.database),
        None => format!("external server at {base} (its CPU counts as other processes')"),
    }
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string(r#"a\b"c"#), r#""a\\b\"c""#);
    }
}
