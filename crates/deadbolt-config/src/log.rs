//! `[log]`: what the service logs.

use serde::{Deserialize, Serialize};

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

impl LogConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        // directives (`target=level`) would need tracing-subscriber's parser; only levels are
        // checked here
        if self
            .level
            .parse::<tracing::level_filters::LevelFilter>()
            .is_err()
            && !self.level.contains('=')
        {
            out.push((
                "level",
                "must be a tracing filter like info or deadbolt=debug".into(),
            ));
        }
        out
    }
}
