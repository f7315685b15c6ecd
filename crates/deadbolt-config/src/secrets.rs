//! `[secrets]`: the master key file, whose keys seal the secrets kept in the database.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

impl SecretsConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.master_key_file.as_os_str().is_empty() {
            out.push(("master_key_file", "must name a file".into()));
        }
        out
    }
}
