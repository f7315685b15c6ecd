//! Configuration: defaults, then a TOML file, then `DEADBOLT_SECTION__KEY` environment
//! variables. [`Config::load`] reports every problem at once, each with its key, rather than
//! stopping at the first.

use deadbolt_core::delivery::RetryPolicy;
use deadbolt_core::mfa::MfaLimits;
use deadbolt_core::password::PasswordParams;
use deadbolt_core::policy::{MfaPolicy, Policy, StepUpPolicy};
use deadbolt_core::session::SessionPolicy;
use deadbolt_core::totp::{TotpAlgorithm, TotpParams};
use deadbolt_core::webauthn::AttestationPolicy;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use webauthn_rp::request::{AsciiDomain, DomainOrigin};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub webauthn: WebauthnConfig,
    pub mfa: MfaConfig,
    pub password: PasswordConfig,
    pub session: SessionPolicy,
    pub limits: LimitsConfig,
    pub lockout: MfaLimits,
    /// Limits on sending codes (verification, password reset).
    pub codes: deadbolt_core::code::ResendPolicy,
    /// Per-action step-up rules, by action name: `"billing.refund" = { window_seconds = 600 }`;
    /// `default` is the rule of actions without their own. Seeds the stored policy.
    pub step_up: std::collections::BTreeMap<String, deadbolt_core::policy::ActionRule>,
    /// Risk rules. Seeds the stored policy.
    pub risk: deadbolt_core::risk::RiskPolicy,
    /// Where each role may sign in from: `[locations.admin] networks = ["10.0.0.0/8"]`. Seeds
    /// the stored policy.
    pub locations: std::collections::BTreeMap<String, deadbolt_core::risk::LocationRule>,
    pub geoip: GeoipConfig,
    pub delivery: RetryPolicy,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    /// Where clients reach the service: the `iss` and `aud` of tokens, links in mail.
    pub public_url: String,
    /// Proxies (CIDR) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers, and how long an idle
    /// connection stays open waiting for its next request.
    pub header_read_timeout_seconds: u64,
    /// How long a client may take to send a request's body, from the end of its headers.
    pub body_read_timeout_seconds: u64,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            public_url: "http://localhost:8080".to_owned(),
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            max_connections: 1024,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    /// Connections per instance (PostgreSQL only; SQLite uses one).
    pub pool_size: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://./deadbolt-data/deadbolt.db".to_owned(),
            pool_size: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    pub master_key_file: PathBuf,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            master_key_file: PathBuf::from("./deadbolt-data/master.key"),
        }
    }
}

/// Email: over SMTP where `smtp_url` is set; otherwise (the embedded default, which needs no
/// mail server) written as files under `file_dir`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Empty: mail is written to files.
    pub smtp_url: String,
    pub from: String,
    /// Where mail goes when `smtp_url` is empty: one `.eml` file per message, mode 0600.
    pub file_dir: PathBuf,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "Deadbolt <no-reply@localhost>".to_owned(),
            file_dir: PathBuf::from("./deadbolt-data/mail"),
        }
    }
}

impl EmailConfig {
    /// True when mail is written to files rather than sent.
    pub fn writes_files(&self) -> bool {
        self.smtp_url.is_empty()
    }
}

/// SMS and voice delivery: `none` (nothing is sent by phone), `file` (JSON files under
/// `file_dir`, for trying things out), `webhook` (a signed JSON POST, which also serves push
/// gateways) or `twilio` (the Messages and Calls APIs).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    pub provider: String,
    pub webhook_url: String,
    /// Key of the `X-Deadbolt-Signature` HMAC; at least 32 characters.
    pub webhook_secret: String,
    pub twilio_base_url: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    /// The E.164 number messages and calls come from.
    pub twilio_from: String,
    /// Where `provider = "file"` writes texts and calls: one `.json` file each, mode 0600.
    pub file_dir: PathBuf,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: "none".to_owned(),
            webhook_url: "http://127.0.0.1:9000/sms".to_owned(),
            webhook_secret: String::new(),
            twilio_base_url: "https://api.twilio.com".to_owned(),
            twilio_account_sid: String::new(),
            twilio_auth_token: String::new(),
            twilio_from: String::new(),
            file_dir: PathBuf::from("./deadbolt-data/sms"),
        }
    }
}

impl SmsConfig {
    /// True when something can carry SMS and voice messages.
    pub fn can_send(&self) -> bool {
        self.provider != "none"
    }
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("provider", &self.provider)
            .field("webhook_url", &redact_url(&self.webhook_url))
            .field("twilio_base_url", &self.twilio_base_url)
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_from", &self.twilio_from)
            .field("file_dir", &self.file_dir)
            .finish_non_exhaustive()
    }
}

/// WebAuthn relying party: security keys and passkeys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The domain credentials are bound to (`example.com`); every origin must be it or under it.
    pub rp_id: String,
    /// The origin of the pages that run the ceremonies (`https://login.example.com`).
    pub rp_origin: String,
    /// Further origins allowed to run ceremonies (other apps under the same `rp_id`).
    pub extra_origins: Vec<String>,
    /// `none` (default): any authenticator; `required`: it must attest (self attestation is
    /// all the library checks) and, when `allowed_aaguids` is not empty, be one of those models.
    pub attestation: String,
    /// AAGUIDs (UUIDs) of the authenticator models allowed under `attestation = "required"`.
    pub allowed_aaguids: Vec<String>,
    /// How long a ceremony (options handed out, credential awaited) lives.
    pub ceremony_timeout_seconds: i64,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".to_owned(),
            rp_origin: "http://localhost:8080".to_owned(),
            extra_origins: Vec::new(),
            attestation: "none".to_owned(),
            allowed_aaguids: Vec::new(),
            ceremony_timeout_seconds: 300,
        }
    }
}

/// A GeoIP2 or GeoLite2 City (or Country) database, for the country and place of a client
/// address. Empty: no country signals, no impossible travel, no country restrictions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoipConfig {
    pub database: String,
}

/// Who may read `/metrics`. Off the public listener by default: request counts by route and
/// status, and logins by outcome, tell an outsider more than they should.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on the listener (`[server] bind`); restrict it at the proxy.
    pub public: bool,
}

impl WebauthnConfig {
    /// Every origin allowed to run a ceremony.
    pub fn origins(&self) -> Vec<&str> {
        std::iter::once(self.rp_origin.as_str())
            .chain(self.extra_origins.iter().map(String::as_str))
            .collect()
    }

    /// The allow list, parsed (config check refuses entries that do not parse).
    pub fn aaguids(&self) -> Vec<uuid::Uuid> {
        self.allowed_aaguids
            .iter()
            .filter_map(|a| uuid::Uuid::parse_str(a).ok())
            .collect()
    }
}

/// Second factors: who must have one (`enforcement`, `required_for_roles`), which kinds may be
/// enrolled (`allowed_methods`), and the TOTP parameters of new enrolments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    pub enforcement: String,
    pub required_for_roles: Vec<String>,
    pub allowed_methods: Vec<String>,
    /// The issuer authenticator apps show next to the account.
    pub issuer: String,
    pub totp_algorithm: String,
    pub totp_digits: u32,
    pub totp_period_seconds: i64,
    /// Steps accepted either side of the current one (clock drift).
    pub totp_skew_steps: i64,
    /// How long "trust this device" lasts.
    pub trusted_device_days: i64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        let totp = TotpParams::default();
        Self {
            enforcement: "optional".to_owned(),
            required_for_roles: vec!["admin".to_owned()],
            allowed_methods: ["totp", "webauthn", "email", "recovery_code"]
                .map(str::to_owned)
                .to_vec(),
            issuer: "Deadbolt".to_owned(),
            totp_algorithm: "sha1".to_owned(),
            totp_digits: totp.digits,
            totp_period_seconds: totp.period_seconds,
            totp_skew_steps: totp.skew_steps,
            trusted_device_days: 30,
        }
    }
}

impl MfaConfig {
    pub fn totp_params(&self) -> TotpParams {
        TotpParams {
            algorithm: TotpAlgorithm::parse(&self.totp_algorithm).unwrap_or_default(),
            digits: self.totp_digits,
            period_seconds: self.totp_period_seconds,
            skew_steps: self.totp_skew_steps,
        }
    }
}

/// Argon2id costs and strength rules (defaults: OWASP's m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub min_length: usize,
    /// zxcvbn score (0..=4) a new password must reach.
    pub min_score: u8,
    /// Threads that run Argon2 (0: one per core).
    pub hash_threads: usize,
    /// Hashes allowed to wait for a thread before the server answers 503 (0: 4 per thread).
    pub hash_queue: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        let p = PasswordParams::default();
        Self {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
            min_length: p.min_length,
            min_score: p.min_score,
            hash_threads: 0,
            hash_queue: 0,
        }
    }
}

impl PasswordConfig {
    pub fn params(&self) -> PasswordParams {
        PasswordParams {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
            min_length: self.min_length,
            min_score: self.min_score,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failed passwords for one email within the window before login is refused (429).
    pub login_failures_per_account: u32,
    /// Failed passwords from one client address within the window.
    pub login_failures_per_ip: u32,
    pub login_window_seconds: i64,
    /// Wrong emailed or texted codes per account within the login window, outside the
    /// second-factor step (password reset, sign-up verification, email and phone change).
    pub code_failures_per_account: u32,
    /// Sign-ups from one client address within an hour.
    pub signups_per_ip_per_hour: u32,
    /// Passkey sign-ins started from one client address within a minute (each stores a
    /// ceremony).
    pub passkey_starts_per_ip_per_minute: u32,
    /// Passkey sign-ins started at once on this instance, from all addresses together; more
    /// are refused at once with 503 and Retry-After rather than queued.
    pub passkey_starts_in_flight: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            login_failures_per_account: 10,
            login_failures_per_ip: 100,
            login_window_seconds: 900,
            code_failures_per_account: 10,
            signups_per_ip_per_hour: 20,
            passkey_starts_per_ip_per_minute: 30,
            passkey_starts_in_flight: 64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `deadbolt=debug,info`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}

/// A URL without its password, for logs and `Debug`: `postgres://app:***@db/auth`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

// Database and SMTP URLs may carry passwords: their Debug output shows them redacted.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("file_dir", &self.file_dir)
            .finish()
    }
}

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `section.key`, or the file for problems reading it.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

const ENV_PREFIX: &str = "DEADBOLT_";

impl Config {
    /// Loads defaults, the file (if any), then the environment, and checks the result.
    /// What is valid but wrong for production: messages written to files instead of sent.
    pub fn warnings(&self) -> Vec<ConfigProblem> {
        let mut warnings = Vec::new();
        if self.email.writes_files() {
            warnings.push(ConfigProblem {
                key: "email.smtp_url".to_owned(),
                message: format!(
                    "not set: mail is written to files under {}, not sent; set it to deliver mail",
                    self.email.file_dir.display()
                ),
            });
        }
        if self.sms.provider == "file" {
            warnings.push(ConfigProblem {
                key: "sms.provider".to_owned(),
                message: format!(
                    "\"file\": texts and calls are written to files under {}, not sent",
                    self.sms.file_dir.display()
                ),
            });
        }
        warnings
    }

    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        match file {
            None => Self::parse(None, env),
            Some(path) => {
                let key = path.display().to_string();
                match std::fs::read_to_string(path) {
                    Ok(text) => Self::parse(Some((&key, &text)), env),
                    Err(e) => {
                        // the environment's own problems are reported with the unreadable file
                        let mut problems = vec![ConfigProblem {
                            key,
                            message: format!("cannot read: {e}"),
                        }];
                        if let Err(ConfigErrors(more)) = Self::parse(None, env) {
                            problems.extend(more);
                        }
                        Err(ConfigErrors(problems))
                    }
                }
            }
        }
    }

    /// [`Self::load`] once the file is read: `file` is its name (for problems) and its text.
    /// Public so that the fuzz targets check the very parse the server runs.
    pub fn parse(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let mut problems = Vec::new();
        let mut root = toml::Table::new();
        if let Some((key, text)) = file {
            match text.parse::<toml::Table>() {
                Ok(t) => root = t,
                Err(e) => problems.push(ConfigProblem {
                    key: key.to_owned(),
                    message: format!("not valid TOML: {}", e.message()),
                }),
            }
        }
        apply_env(&mut root, env, &mut problems);
        let config = from_table(root, &mut problems);
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Semantic checks on values that parsed.
    fn problems(&self) -> Vec<ConfigProblem> {
        let mut out: Vec<ConfigProblem> = Vec::new();
        let mut add = |section: &str, key: &str, message: String| {
            out.push(ConfigProblem {
                key: format!("{section}.{key}"),
                message,
            });
        };
        if self.server.bind.parse::<SocketAddr>().is_err() {
            add(
                "server",
                "bind",
                "must be an address and port, like 127.0.0.1:8080".into(),
            );
        }
        if !is_http_url(&self.server.public_url) {
            add(
                "server",
                "public_url",
                "must be an http:// or https:// URL".into(),
            );
        }
        for p in &self.server.trusted_proxies {
            if p.parse::<ipnet::IpNet>().is_err() && p.parse::<std::net::IpAddr>().is_err() {
                add(
                    "server",
                    "trusted_proxies",
                    format!("{p:?} is not a CIDR block or address"),
                );
            }
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            add(
                "server",
                "max_body_bytes",
                "must be between 1024 and 16777216".into(),
            );
        }
        for (key, value) in [
            (
                "header_read_timeout_seconds",
                self.server.header_read_timeout_seconds,
            ),
            (
                "body_read_timeout_seconds",
                self.server.body_read_timeout_seconds,
            ),
        ] {
            if !(1..=3600).contains(&value) {
                add("server", key, "must be between 1 and 3600".into());
            }
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            add(
                "server",
                "max_connections",
                "must be between 1 and 1000000".into(),
            );
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite://")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            add(
                "database",
                "url",
                "must start with sqlite:// or postgres://".into(),
            );
        }
        if !(1..=1000).contains(&self.database.pool_size) {
            add("database", "pool_size", "must be between 1 and 1000".into());
        }
        if self.secrets.master_key_file.as_os_str().is_empty() {
            add("secrets", "master_key_file", "must name a file".into());
        }
        if !self.email.writes_files()
            && !["smtp://", "smtps://"]
                .iter()
                .any(|s| self.email.smtp_url.starts_with(s))
        {
            add(
                "email",
                "smtp_url",
                "must start with smtp:// or smtps://, or be empty (mail is written to files)"
                    .into(),
            );
        }
        if self
            .email
            .from
            .parse::<lettre_free_mailbox::Mailbox>()
            .is_err()
        {
            add(
                "email",
                "from",
                "must be an address, like \"Deadbolt <no-reply@example.com>\"".into(),
            );
        }
        if !["webhook", "twilio", "file", "none"].contains(&self.sms.provider.as_str()) {
            add(
                "sms",
                "provider",
                "must be webhook, twilio, file or none".into(),
            );
        }
        if self.email.writes_files() && self.email.file_dir.as_os_str().is_empty() {
            add(
                "email",
                "file_dir",
                "must name a directory while smtp_url is empty".into(),
            );
        }
        if self.sms.provider == "file" && self.sms.file_dir.as_os_str().is_empty() {
            add(
                "sms",
                "file_dir",
                "must name a directory with provider = \"file\"".into(),
            );
        }
        if self.sms.provider == "webhook" {
            if !is_http_url(&self.sms.webhook_url) {
                add(
                    "sms",
                    "webhook_url",
                    "must be an http:// or https:// URL".into(),
                );
            }
            if self.sms.webhook_secret.len() < 32 {
                add(
                    "sms",
                    "webhook_secret",
                    "must be at least 32 characters (the receiver checks the signature with it)"
                        .into(),
                );
            }
        }
        if self.sms.provider == "twilio" {
            if !is_http_url(&self.sms.twilio_base_url) {
                add(
                    "sms",
                    "twilio_base_url",
                    "must be an http:// or https:// URL".into(),
                );
            }
            for (key, value) in [
                ("twilio_account_sid", &self.sms.twilio_account_sid),
                ("twilio_auth_token", &self.sms.twilio_auth_token),
            ] {
                if value.is_empty() {
                    add("sms", key, "is required with provider = \"twilio\"".into());
                }
            }
            if deadbolt_core::phone::Phone::parse(&self.sms.twilio_from).is_err() {
                add(
                    "sms",
                    "twilio_from",
                    "must be an E.164 number, like +12015550123".into(),
                );
            }
        }
        if self.webauthn.rp_id.is_empty() || self.webauthn.rp_id.contains('/') {
            add(
                "webauthn",
                "rp_id",
                "must be a bare domain, like example.com".into(),
            );
        }
        if !is_http_url(&self.webauthn.rp_origin) {
            add(
                "webauthn",
                "rp_origin",
                "must be an http:// or https:// origin".into(),
            );
        }
        for (key, message) in webauthn_problems(&self.webauthn) {
            add("webauthn", key, message);
        }
        if !["off", "optional", "required"].contains(&self.mfa.enforcement.as_str()) {
            add(
                "mfa",
                "enforcement",
                "must be off, optional or required".into(),
            );
        }
        for r in &self.mfa.required_for_roles {
            if deadbolt_core::account::Role::parse(r).is_none() {
                add(
                    "mfa",
                    "required_for_roles",
                    format!("{r:?} is not a role name ([a-z0-9_]+)"),
                );
            }
        }
        const METHODS: [&str; 6] = ["totp", "webauthn", "email", "sms", "voice", "recovery_code"];
        for m in &self.mfa.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                add(
                    "mfa",
                    "allowed_methods",
                    format!("{m:?} is not one of {}", METHODS.join(", ")),
                );
            }
        }
        if TotpAlgorithm::parse(&self.mfa.totp_algorithm).is_none() {
            add(
                "mfa",
                "totp_algorithm",
                "must be sha1, sha256 or sha512".into(),
            );
        }
        for (k, m) in self.mfa.totp_params().problems() {
            let key = match k {
                "digits" => "totp_digits",
                "period_seconds" => "totp_period_seconds",
                _ => "totp_skew_steps",
            };
            add("mfa", key, m);
        }
        if self.mfa.issuer.is_empty() || self.mfa.issuer.len() > 64 {
            add("mfa", "issuer", "must be 1 to 64 characters".into());
        }
        if !(1..=365).contains(&self.mfa.trusted_device_days) {
            add(
                "mfa",
                "trusted_device_days",
                "must be between 1 and 365".into(),
            );
        }
        for (k, m) in self.lockout.problems() {
            add("lockout", k, m);
        }
        for (k, m) in self.codes.problems() {
            add("codes", k, m);
        }
        // the sections that seed the policy and only it: checked by the policy's own rules
        let deployment = deadbolt_core::policy::Deployment {
            has_geoip: !self.geoip.database.is_empty(),
            login_failures_per_account: self.limits.login_failures_per_account,
        };
        for p in self.policy_seed().problems_in(&deployment) {
            let seeded_only = ["step_up.", "risk.", "locations."]
                .iter()
                .any(|prefix| p.field.starts_with(prefix));
            if seeded_only {
                let (section, key) = p.field.split_once('.').unwrap_or((&p.field, ""));
                let key = key.strip_prefix("actions.").unwrap_or(key);
                add(section, key, p.message);
            }
        }
        if !self.geoip.database.is_empty() && !std::path::Path::new(&self.geoip.database).is_file()
        {
            add("geoip", "database", "no such file".into());
        }
        for (k, m) in self.password.params().problems() {
            add("password", k, m);
        }
        if self.password.hash_threads > 256 {
            add("password", "hash_threads", "must be at most 256".into());
        }
        if self.password.hash_queue > 100_000 {
            add("password", "hash_queue", "must be at most 100000".into());
        }
        for (k, m) in self.session.problems() {
            add("session", k, m);
        }
        if self.limits.login_failures_per_account == 0 {
            add(
                "limits",
                "login_failures_per_account",
                "must be at least 1".into(),
            );
        }
        if self.limits.login_failures_per_ip == 0 {
            add(
                "limits",
                "login_failures_per_ip",
                "must be at least 1".into(),
            );
        }
        for (key, value) in [
            (
                "code_failures_per_account",
                self.limits.code_failures_per_account,
            ),
            (
                "signups_per_ip_per_hour",
                self.limits.signups_per_ip_per_hour,
            ),
            (
                "passkey_starts_per_ip_per_minute",
                self.limits.passkey_starts_per_ip_per_minute,
            ),
        ] {
            if value == 0 {
                add("limits", key, "must be at least 1".into());
            }
        }
        if self.limits.passkey_starts_in_flight == 0 {
            add(
                "limits",
                "passkey_starts_in_flight",
                "must be at least 1".into(),
            );
        }
        if !(60..=86_400).contains(&self.limits.login_window_seconds) {
            add(
                "limits",
                "login_window_seconds",
                "must be between 60 and 86400".into(),
            );
        }
        for (k, m) in self.delivery.problems() {
            add("delivery", k, m);
        }
        if self
            .log
            .level
            .parse::<tracing::level_filters::LevelFilter>()
            .is_err()
            && !self.log.level.contains('=')
        {
            add(
                "log",
                "level",
                "must be a tracing filter like info or deadbolt=debug".into(),
            );
        }
        out
    }

    /// Argon2 worker threads: as configured, or one per core.
    pub fn hash_threads(&self) -> usize {
        match self.password.hash_threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    pub fn hash_queue(&self) -> usize {
        match self.password.hash_queue {
            0 => 4 * self.hash_threads(),
            n => n,
        }
    }
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// `DEADBOLT_SERVER__BIND=…` sets `server.bind`. Values are read as TOML when they parse as
/// TOML (numbers, booleans, arrays) and as plain strings otherwise.
fn apply_env(
    root: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<ConfigProblem>,
) {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // Variables without `__` (DEADBOLT_TEST_DATABASE, say) are not configuration.
        let Some((section, key)) = path.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_lowercase(), key.to_lowercase());
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        match root
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => {
                t.insert(key, value);
            }
            _ => problems.push(ConfigProblem {
                key: section,
                message: format!("{name}: section is not a table"),
            }),
        }
    }
}

/// Deserialises section by section and key by key, so that each bad key is named and the good
/// ones still apply.
fn from_table(root: toml::Table, problems: &mut Vec<ConfigProblem>) -> Config {
    let mut config = Config::default();
    for (section, value) in root {
        let toml::Value::Table(table) = value else {
            problems.push(ConfigProblem {
                key: section,
                message: "must be a [section]".into(),
            });
            continue;
        };
        let ok = match section.as_str() {
            "server" => merge(&section, table, &mut config.server, problems),
            "database" => merge(&section, table, &mut config.database, problems),
            "secrets" => merge(&section, table, &mut config.secrets, problems),
            "email" => merge(&section, table, &mut config.email, problems),
            "sms" => merge(&section, table, &mut config.sms, problems),
            "webauthn" => merge(&section, table, &mut config.webauthn, problems),
            "mfa" => merge(&section, table, &mut config.mfa, problems),
            "password" => merge(&section, table, &mut config.password, problems),
            "session" => merge(&section, table, &mut config.session, problems),
            "limits" => merge(&section, table, &mut config.limits, problems),
            "lockout" => merge(&section, table, &mut config.lockout, problems),
            "codes" => merge(&section, table, &mut config.codes, problems),
            "step_up" => merge(&section, table, &mut config.step_up, problems),
            "risk" => merge(&section, table, &mut config.risk, problems),
            "locations" => merge(&section, table, &mut config.locations, problems),
            "geoip" => merge(&section, table, &mut config.geoip, problems),
            "delivery" => merge(&section, table, &mut config.delivery, problems),
            "log" => merge(&section, table, &mut config.log, problems),
            "metrics" => merge(&section, table, &mut config.metrics, problems),
            _ => false,
        };
        if !ok
            && !problems
                .iter()
                .any(|p| p.key.starts_with(&format!("{section}.")))
        {
            problems.push(ConfigProblem {
                key: section,
                message: "unknown section".into(),
            });
        }
    }
    config
}

fn merge<T: Serialize + DeserializeOwned>(
    section: &str,
    table: toml::Table,
    target: &mut T,
    problems: &mut Vec<ConfigProblem>,
) -> bool {
    let Ok(toml::Value::Table(mut accepted)) = toml::Value::try_from(&*target) else {
        return false;
    };
    for (key, value) in table {
        let mut trial = accepted.clone();
        trial.insert(key.clone(), value.clone());
        match toml::Value::Table(trial).try_into::<T>() {
            Ok(_) => {
                accepted.insert(key, value);
            }
            Err(e) => problems.push(ConfigProblem {
                key: format!("{section}.{key}"),
                message: e.message().trim().to_owned(),
            }),
        }
    }
    if let Ok(t) = toml::Value::Table(accepted).try_into::<T>() {
        *target = t;
    }
    true
}

/// Just enough of an RFC 5322 mailbox check to catch typos in `email.from`; lettre does the
/// real parsing when the outbox sends.
mod lettre_free_mailbox {
    pub struct Mailbox;

    impl std::str::FromStr for Mailbox {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let addr = match (s.rfind('<'), s.rfind('>')) {
                (Some(a), Some(b)) if a < b && b == s.len() - 1 => &s[a + 1..b],
                (None, None) => s.trim(),
                _ => return Err(()),
            };
            let (local, domain) = addr.rsplit_once('@').ok_or(())?;
            if local.is_empty() || domain.is_empty() || addr.contains(char::is_whitespace) {
                return Err(());
            }
            Ok(Mailbox)
        }
    }
}

impl Config {
    /// The policy the config describes: what a fresh database starts with.
    pub fn policy_seed(&self) -> Policy {
        let config = self;
        let mut step_up = StepUpPolicy::builtin();
        for (action, rule) in &config.step_up {
            if action == "default" {
                step_up.default = rule.clone();
            } else {
                step_up.actions.insert(action.clone(), rule.clone());
            }
        }
        Policy {
            mfa: MfaPolicy {
                enforcement: deadbolt_core::mfa::Enforcement::parse(&config.mfa.enforcement)
                    .unwrap_or(deadbolt_core::mfa::Enforcement::Optional),
                required_for_roles: config.mfa.required_for_roles.clone(),
                allowed_methods: config.mfa.allowed_methods.clone(),
            },
            totp: config.mfa.totp_params(),
            lockout: config.lockout,
            trusted_device_days: config.mfa.trusted_device_days,
            step_up,
            risk: config.risk.clone(),
            locations: config.locations.clone(),
        }
    }
}

/// `config check`'s findings for `[webauthn]`, beyond the basic shape of `rp_id`/`rp_origin`.
fn webauthn_problems(c: &WebauthnConfig) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let domain_ok = !c.rp_id.is_empty()
        && c.rp_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && AsciiDomain::try_from(c.rp_id.clone()).is_ok();
    if !domain_ok {
        out.push((
            "rp_id",
            "must be an ASCII domain name, like example.com".into(),
        ));
    }
    // an origin's host must be the RP ID or under it (WebAuthn L3 5.1.3 step 8)
    let origin_problem = |o: &str| -> Option<String> {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))?;
        let host = rest.split(':').next().unwrap_or_default();
        let parses = DomainOrigin::try_from(o).is_ok()
            && !host.is_empty()
            && !rest.contains(['/', '?', '#'])
            && !rest.contains(char::is_whitespace);
        if !parses {
            return Some(format!("{o:?} is not an origin (http[s]://host[:port])"));
        }
        (domain_ok && host != c.rp_id && !host.ends_with(&format!(".{}", c.rp_id)))
            .then(|| format!("{o:?} is not rp_id {:?} nor under it", c.rp_id))
    };
    let not_http = |o: &str| !(o.starts_with("https://") || o.starts_with("http://"));
    // (config.rs already says when rp_origin is not http(s) at all)
    if let Some(why) = origin_problem(&c.rp_origin) {
        out.push(("rp_origin", why));
    }
    for o in &c.extra_origins {
        if not_http(o) {
            out.push(("extra_origins", format!("{o:?} is not an http(s) origin")));
        } else if let Some(why) = origin_problem(o) {
            out.push(("extra_origins", why));
        }
    }
    if AttestationPolicy::parse(&c.attestation).is_none() {
        out.push(("attestation", "must be none or required".into()));
    }
    for a in &c.allowed_aaguids {
        if uuid::Uuid::parse_str(a).is_err() {
            out.push((
                "allowed_aaguids",
                format!("{a:?} is not an AAGUID (a UUID)"),
            ));
        }
    }
    if !(10..=3600).contains(&c.ceremony_timeout_seconds) {
        out.push((
            "ceremony_timeout_seconds",
            "must be between 10 and 3600".into(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn passwords_in_urls_never_reach_debug_output() {
        let mut c = Config::default();
        c.database.url = "postgres://app:s3cret@db/auth".into();
        c.email.smtp_url = "smtps://mailer:hunter2@smtp.example.com:465".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:***@db/auth"));
        assert_eq!(
            redact_url("sqlite://./deadbolt-data/deadbolt.db"),
            "sqlite://./deadbolt-data/deadbolt.db"
        );
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, vec![]).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://./deadbolt-data/deadbolt.db");
        assert_eq!(c.session.idle_seconds, 3600);
    }

    #[test]
    fn environment_overrides_file_and_parses_types() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nbind = \"127.0.0.1:9000\"\n[password]\nmemory_kib = 4096\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&f),
            env(&[
                ("DEADBOLT_SERVER__BIND", "0.0.0.0:7000"),
                ("DEADBOLT_PASSWORD__ITERATIONS", "3"),
                ("DEADBOLT_MFA__REQUIRED_FOR_ROLES", "[\"admin\", \"ops\"]"),
                ("DEADBOLT_TEST_DATABASE", "postgres"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:7000");
        assert_eq!(c.password.memory_kib, 4096);
        assert_eq!(c.password.iterations, 3);
        assert_eq!(c.mfa.required_for_roles, ["admin", "ops"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nbind = \"nowhere\"\ncolour = \"blue\"\n[database]\npool_size = \"many\"\n\
             [mfa]\nenforcement = \"sometimes\"\n[nonsense]\nx = 1\n[password]\nmemory_kib = 1\n",
        )
        .unwrap();
        let err =
            Config::load(Some(&f), env(&[("DEADBOLT_SESSION__IDLE_SECONDS", "5")])).unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "server.bind",
            "server.colour",
            "database.pool_size",
            "mfa.enforcement",
            "nonsense",
            "password.memory_kib",
            "session.idle_seconds",
        ] {
            assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
        }
    }

    #[test]
    fn unreadable_or_invalid_files_are_problems() {
        let err = Config::load(Some(Path::new("/nonexistent/deadbolt.toml")), vec![]).unwrap_err();
        assert!(err.0[0].message.starts_with("cannot read"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server\n").unwrap();
        let err = Config::load(Some(&f), vec![]).unwrap_err();
        assert!(err.0[0].message.starts_with("not valid TOML"));
    }
    #[test]
    fn config_check_names_each_bad_webauthn_key() {
        assert!(webauthn_problems(&WebauthnConfig::default()).is_empty());
        let bad = WebauthnConfig {
            rp_id: "exa mple.com".into(),
            rp_origin: "https://example.com".into(),
            extra_origins: vec!["not an origin".into(), "https://a.b/".into()],
            attestation: "sometimes".into(),
            allowed_aaguids: vec!["nope".into()],
            ceremony_timeout_seconds: 5,
        };
        let keys: Vec<&str> = webauthn_problems(&bad)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "rp_id",
                "extra_origins",
                "extra_origins",
                "attestation",
                "allowed_aaguids",
                "ceremony_timeout_seconds"
            ]
        );
    }

    #[test]
    fn origins_must_sit_under_the_rp_id() {
        let c = WebauthnConfig {
            rp_id: "example.com".into(),
            rp_origin: "https://login.example.com".into(),
            extra_origins: vec![
                "https://example.com:8443".into(),
                "https://evil-example.com".into(),
            ],
            ..WebauthnConfig::default()
        };
        let problems = webauthn_problems(&c);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("evil-example.com"));
    }

    #[test]
    fn webauthn_keys_come_from_the_environment_and_are_checked() {
        let env = vec![
            (
                "DEADBOLT_WEBAUTHN__ALLOWED_AAGUIDS".to_owned(),
                r#"["ee882879-721c-4913-9775-3dfcce97072a"]"#.to_owned(),
            ),
            (
                "DEADBOLT_WEBAUTHN__ATTESTATION".to_owned(),
                "required".to_owned(),
            ),
        ];
        let config = Config::load(None, env).unwrap();
        assert_eq!(config.webauthn.attestation, "required");
        assert_eq!(config.webauthn.aaguids().len(), 1);
        let env = vec![(
            "DEADBOLT_WEBAUTHN__ATTESTATION".to_owned(),
            "direct".to_owned(),
        )];
        let problems = Config::load(None, env).unwrap_err();
        assert!(problems.0.iter().any(|p| p.key == "webauthn.attestation"));
    }
}

#[cfg(test)]
mod reference_file {
    use super::*;

    /// The shipped reference must load, and must set every key to its default.
    #[test]
    fn example_config_matches_the_defaults() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deadbolt.example.toml"
        ));
        let loaded = Config::load(Some(path), vec![]).unwrap();
        let as_toml = |c: &Config| toml::Value::try_from(c).unwrap();
        assert_eq!(as_toml(&loaded), as_toml(&Config::default()));
        let text = std::fs::read_to_string(path).unwrap();
        let file: toml::Table = text.parse().unwrap();
        let defaults = as_toml(&Config::default());
        for (section, keys) in defaults.as_table().unwrap() {
            for key in keys.as_table().unwrap().keys() {
                assert!(
                    file[section].get(key).is_some(),
                    "{section}.{key} missing from the reference"
                );
                let env = format!(
                    "DEADBOLT_{}__{}",
                    section.to_uppercase(),
                    key.to_uppercase()
                );
                assert!(text.contains(&env), "{env} missing from the reference");
            }
        }
    }
}
