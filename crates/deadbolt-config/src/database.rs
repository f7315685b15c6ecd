//! `[database]`: the SQLite or PostgreSQL database and its connection pool.

use crate::url::redact_url;
use serde::{Deserialize, Serialize};

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

// The URL may carry a password: Debug shows it redacted.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl DatabaseConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let db = &self.url;
        if !(db.starts_with("sqlite://")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            out.push(("url", "must start with sqlite:// or postgres://".into()));
        }
        if !(1..=1000).contains(&self.pool_size) {
            out.push(("pool_size", "must be between 1 and 1000".into()));
        }
        out
    }
}
