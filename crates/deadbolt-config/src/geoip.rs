//! `[geoip]`: the database that places client addresses, for the risk and location rules.

use serde::{Deserialize, Serialize};

/// A GeoIP2 or GeoLite2 City (or Country) database, for the country and place of a client
/// address. Empty: no country signals, no impossible travel, no country restrictions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoipConfig {
    pub database: String,
}

impl GeoipConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.database.is_empty() && !std::path::Path::new(&self.database).is_file() {
            out.push(("database", "no such file".into()));
        }
        out
    }
}
