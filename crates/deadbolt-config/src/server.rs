//! `[server]`: the listener, the public URL, trusted proxies and per-connection limits.

use crate::url::is_http_url;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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

impl ServerConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.bind.parse::<SocketAddr>().is_err() {
            out.push((
                "bind",
                "must be an address and port, like 127.0.0.1:8080".into(),
            ));
        }
        if !is_http_url(&self.public_url) {
            out.push(("public_url", "must be an http:// or https:// URL".into()));
        }
        for p in &self.trusted_proxies {
            if p.parse::<ipnet::IpNet>().is_err() && p.parse::<std::net::IpAddr>().is_err() {
                out.push((
                    "trusted_proxies",
                    format!("{p:?} is not a CIDR block or address"),
                ));
            }
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            out.push(("max_body_bytes", "must be between 1024 and 16777216".into()));
        }
        for (key, value) in [
            (
                "header_read_timeout_seconds",
                self.header_read_timeout_seconds,
            ),
            ("body_read_timeout_seconds", self.body_read_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                out.push((key, "must be between 1 and 3600".into()));
            }
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            out.push(("max_connections", "must be between 1 and 1000000".into()));
        }
        out
    }
}
