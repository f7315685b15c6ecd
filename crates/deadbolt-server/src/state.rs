//! What every handler can reach: the use cases' context, and what only HTTP needs.

use deadbolt_usecases::Context;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Context,
    /// Proxies (CIDR) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// The OpenAPI document, rendered once at start.
    pub openapi: Arc<String>,
}

/// A handler hands the state to a use case as its context (`&state` where a `&Context` is
/// asked for), and reads the config, the clock or the store through it.
impl std::ops::Deref for AppState {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}
