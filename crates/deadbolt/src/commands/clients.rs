//! `deadbolt clients`: OpenID Connect clients, for the operator at the machine (no session,
//! no step-up: whoever can run this can read the database anyway).

use crate::ConfigArg;
use clap::Subcommand;
use deadbolt_core::oidc_client::ClientInput;
use deadbolt_store::ClientRecord;
use deadbolt_usecases::clients::{self, NewClient};
use deadbolt_usecases::system::{OsRandom, SystemClock};
use serde_json::json;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints {"client_id", "client_secret"} (the secret only for a
    /// confidential client, and only this once).
    Create {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        name: String,
        /// Where the client may receive its answers; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where the client may send the user after signing out; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a native or browser app): no secret, PKCE only.
        #[arg(long)]
        public: bool,
        /// Someone else's app (the default is the service's own).
        #[arg(long)]
        third_party: bool,
        /// authorization_code, refresh_token or device_code; repeat for several
        /// (default: authorization_code and refresh_token).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// A scope the client may ask for; repeat for several (default: all).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// RS256 (default, as OpenID Connect's) or EdDSA.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// A file holding the public keys (a JWKS) the client signs request objects with
        /// (confidential clients; needed to name its own users, see docs/existing-accounts.md).
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
    },
    /// Replace the public keys a confidential client signs request objects with (a JWKS file),
    /// or remove them with --none.
    SetKeys {
        #[command(flatten)]
        config: ConfigArg,
        client_id: String,
        #[arg(long, required_unless_present = "none")]
        jwks: Option<std::path::PathBuf>,
        /// The client signs no more requests.
        #[arg(long, conflicts_with = "jwks")]
        none: bool,
    },
    /// Every client, one JSON object a line (never a secret).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Give a confidential client a new secret; prints {"client_id", "client_secret"}. The
    /// old secret stops working.
    RotateSecret {
        #[command(flatten)]
        config: ConfigArg,
        client_id: String,
    },
    /// Delete a client: its id never authenticates again.
    Delete {
        #[command(flatten)]
        config: ConfigArg,
        client_id: String,
    },
}

async fn state(config: &ConfigArg) -> anyhow::Result<deadbolt_usecases::Context> {
    let config = super::load_config(config)?;
    super::init_logging(&config);
    deadbolt_usecases::Context::open(config, Arc::new(SystemClock), Arc::new(OsRandom)).await
}

fn secret_json(made: &NewClient) -> serde_json::Value {
    let mut out = json!({"client_id": made.record.client_id});
    if let Some(secret) = &made.secret {
        out["client_secret"] = json!(secret.expose());
    }
    out
}

fn view(c: &ClientRecord) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "public": c.public,
        "first_party": c.first_party,
        "grants": c.grants,
        "scopes": c.scopes,
        "id_token_signed_response_alg": c.id_token_alg,
        "signs_requests": c.jwks.is_some(),
        "created_at_unix": c.created_at.unix_timestamp(),
    })
}

/// A JWKS file, as JSON (its keys are checked where the client is registered).
fn read_jwks(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&raw).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))
}

fn failed(e: deadbolt_usecases::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn run(command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Create {
            config,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            third_party,
            grants,
            scopes,
            id_token_alg,
            jwks,
        } => {
            let jwks = jwks.as_deref().map(read_jwks).transpose()?;
            let state = state(&config).await?;
            let input = ClientInput {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party: !third_party,
                grants: (!grants.is_empty()).then_some(grants),
                scopes: (!scopes.is_empty()).then_some(scopes),
                id_token_signed_response_alg: id_token_alg,
                jwks,
            };
            let made = clients::create_by_operator(&state, input)
                .await
                .map_err(failed)?;
            println!("{}", secret_json(&made));
        }
        ClientsCommand::List { config } => {
            let state = state(&config).await?;
            for c in clients::list_by_operator(&state).await.map_err(failed)? {
                println!("{}", view(&c));
            }
        }
        ClientsCommand::RotateSecret { config, client_id } => {
            let state = state(&config).await?;
            let made = clients::rotate_secret_by_operator(&state, &client_id)
                .await
                .map_err(failed)?;
            println!("{}", secret_json(&made));
        }
        ClientsCommand::SetKeys {
            config,
            client_id,
            jwks,
            none: _,
        } => {
            let jwks = jwks.as_deref().map(read_jwks).transpose()?;
            let state = state(&config).await?;
            let record = clients::set_keys_by_operator(&state, &client_id, jwks)
                .await
                .map_err(failed)?;
            println!("{}", view(&record));
        }
        ClientsCommand::Delete { config, client_id } => {
            let state = state(&config).await?;
            clients::delete_by_operator(&state, &client_id)
                .await
                .map_err(failed)?;
            println!("deleted client {client_id}");
        }
    }
    Ok(())
}
