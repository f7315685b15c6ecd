//! `[metrics]`: whether `/metrics` is served on the public listener.

use serde::{Deserialize, Serialize};

/// Who may read `/metrics`. Off the public listener by default: request counts by route and
/// status, and logins by outcome, tell an outsider more than they should.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on the listener (`[server] bind`); restrict it at the proxy.
    pub public: bool,
}
