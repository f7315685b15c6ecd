//! Building and running the service: open the database, load keys, start the outbox worker,
//! bind the listener. Tests build it on port 0 and talk HTTP to it.

use crate::config::Config;

use crate::state::AppState;
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use deadbolt_core::clock::Clock;
use deadbolt_core::random::Random;
use deadbolt_delivery::{
    Channel, MailFileChannel, OutboxWorker, PhoneFileChannel, SmtpChannel, TwilioChannel,
    WebhookChannel, WorkerHandle,
};
use deadbolt_usecases::system::{OsRandom, SystemClock};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    worker: WorkerHandle,
    housekeeping: tokio::task::JoinHandle<()>,
    /// Following the policy and the service keys that other instances change.
    watches: [tokio::task::JoinHandle<()>; 2],
}

/// How often expired rows are removed.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes expired challenges, codes, sessions and the like, now and then.
fn spawn_housekeeping(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
        let policy = state.config.session;
        loop {
            tick.tick().await;
            // a device that stopped polling leaves its unanswered request's end on record
            if let Err(e) = deadbolt_usecases::oidc::device::record_expired(&state).await {
                tracing::warn!(error = %e, "housekeeping: recording expired device requests failed");
            }
            let absolute = time::Duration::seconds(policy.absolute_seconds);
            let idle = time::Duration::seconds(policy.idle_seconds);
            match state
                .store
                .purge_expired(state.clock.now(), absolute, idle)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "housekeeping: expired rows removed"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
    })
}

/// The state every part of the service shares, without a listener: also used by commands such
/// as `deadbolt admin create`.
pub async fn build_state(
    config: Config,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Random>,
) -> anyhow::Result<AppState> {
    let trusted_proxies = config
        .server
        .trusted_proxies
        .iter()
        .filter_map(|p| {
            p.parse::<ipnet::IpNet>()
                .ok()
                .or_else(|| p.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
        })
        .collect();
    let (_, api) = crate::routes::router();
    let mut openapi = serde_json::to_value(&api).context("rendering the OpenAPI document")?;
    crate::routes::docs::add_links(&mut openapi);
    crate::routes::docs::add_subject_links(&mut openapi);
    let openapi = openapi.to_string();
    Ok(AppState {
        ctx: deadbolt_usecases::Context::open(config, clock, rng).await?,
        trusted_proxies: Arc::new(trusted_proxies),
        openapi: Arc::new(openapi),
    })
}

/// The HTTP application over a state.
pub fn router(state: AppState) -> Router {
    let (routes, _) = crate::routes::router();
    routes
        .route(
            "/openapi.json",
            axum::routing::get(crate::routes::docs::openapi),
        )
        .merge(crate::pages::router(state.clone()))
        // an unknown page answers a browser with a page, anything else with problem+json
        .fallback(crate::pages::fallback)
        .layer(axum::middleware::from_fn(crate::no_store::layer))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .with_state(state)
}

/// The channels the outbox worker delivers through: email always (SMTP, or files where no
/// server is configured); SMS and voice through the configured provider, if any.
fn channels(state: &AppState) -> anyhow::Result<HashMap<String, Arc<dyn Channel>>> {
    let config = &state.config;
    let mut channels: HashMap<String, Arc<dyn Channel>> = HashMap::new();
    let email: Arc<dyn Channel> = if config.email.writes_files() {
        Arc::new(MailFileChannel::new(
            &config.email.file_dir,
            &config.email.from,
        )?)
    } else {
        Arc::new(SmtpChannel::new(
            &config.email.smtp_url,
            &config.email.from,
        )?)
    };
    channels.insert("email".to_owned(), email);
    let sms = &config.sms;
    let phone: Option<Arc<dyn Channel>> = match sms.provider.as_str() {
        "file" => Some(Arc::new(PhoneFileChannel::new(&sms.file_dir)?)),
        "webhook" => Some(Arc::new(WebhookChannel::new(
            &sms.webhook_url,
            sms.webhook_secret.as_bytes(),
            state.clock.clone(),
        )?)),
        "twilio" => Some(Arc::new(TwilioChannel::new(
            &sms.twilio_base_url,
            &sms.twilio_account_sid,
            &sms.twilio_auth_token,
            &sms.twilio_from,
        )?)),
        _ => None,
    };
    // a push gateway takes the webhook's body too (`channel: "push"`); Twilio carries none
    if matches!(sms.provider.as_str(), "file" | "webhook") {
        if let Some(phone) = &phone {
            channels.insert("push".to_owned(), phone.clone());
        }
    }
    if let Some(phone) = phone {
        channels.insert("sms".to_owned(), phone.clone());
        channels.insert("voice".to_owned(), phone);
    }
    Ok(channels)
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Arc::new(SystemClock), Arc::new(OsRandom)).await
    }

    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> anyhow::Result<Self> {
        let bind = config.server.bind.clone();
        let state = build_state(config, clock, rng).await?;
        let channels = channels(&state)?;
        let worker = OutboxWorker {
            store: state.store.clone(),
            clock: state.clock.clone(),
            rng: state.rng.clone(),
            channels,
            keys: state.outbox_keys.clone(),
            retry: state.config.delivery,
            wake: state.outbox_wake(),
        }
        .spawn();
        let listener = TcpListener::bind(&bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let housekeeping = spawn_housekeeping(state.clone());
        let watches = state.ctx.spawn_watches();
        Ok(Self {
            watches,
            listener,
            router: router(state.clone()),
            state,
            worker,
            housekeeping,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map_or(0, |a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process gets Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and stops the worker.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let server = &self.state.config.server;
        let bounds = crate::serve::Bounds {
            header_read_timeout: std::time::Duration::from_secs(server.header_read_timeout_seconds),
            body_read_timeout: std::time::Duration::from_secs(server.body_read_timeout_seconds),
            max_connections: server.max_connections,
        };
        crate::serve::serve(self.listener, self.router, bounds, shutdown).await;
        self.housekeeping.abort();
        for watch in &self.watches {
            watch.abort();
        }
        self.worker.stop().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
