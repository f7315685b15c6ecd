//! The client the phase signs in to: registered with the server's own command, or named.

use super::*;

/// `deadbolt clients create` against the spawned server's config and database, with the
/// server's default ID-token algorithm unless `alg` names one.
pub(crate) async fn register(server: &Spawned, alg: Option<&str>) -> Result<Rp> {
    let mut args = vec!["--redirect-uri", REDIRECT_URI];
    if let Some(alg) = alg {
        args.extend(["--id-token-alg", alg]);
    }
    let made = create_client(server, &args).await?;
    let field = |name: &str| {
        made.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("deadbolt clients create printed no {name}: {made}"))
    };
    let id = field("client_id")?;
    let registered_alg = match made.get(ALG_FIELD).and_then(serde_json::Value::as_str) {
        Some(alg) => Some(alg.to_owned()),
        None => registered_alg(server, &id).await?,
    };
    Ok(Rp {
        secret: field("client_secret")?,
        id,
        registered_alg,
    })
}

/// `deadbolt clients create --name load` with `args`, against the spawned server's config and
/// database: the client it printed.
pub(crate) async fn create_client(server: &Spawned, args: &[&str]) -> Result<serde_json::Value> {
    let output = tokio::process::Command::new(&server.bin)
        .args(["clients", "create", "--config"])
        .arg(&server.config)
        .args(["--name", "load"])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} clients create", server.bin.display()))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    ensure!(
        output.status.success(),
        "deadbolt clients create failed ({}): {stdout}{stderr}",
        output.status
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("client_id").is_some())
        .with_context(|| format!("deadbolt clients create printed no client: {stdout}"))
}

/// How `deadbolt clients` names a client's ID-token algorithm.
pub(super) const ALG_FIELD: &str = "id_token_signed_response_alg";

/// The ID-token algorithm `deadbolt clients list` shows for the client.
pub(super) async fn registered_alg(server: &Spawned, client_id: &str) -> Result<Option<String>> {
    let output = tokio::process::Command::new(&server.bin)
        .args(["clients", "list", "--config"])
        .arg(&server.config)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} clients list", server.bin.display()))?;
    ensure!(
        output.status.success(),
        "deadbolt clients list failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|c| c.get("client_id").and_then(serde_json::Value::as_str) == Some(client_id))
        .and_then(|c| c.get(ALG_FIELD)?.as_str().map(str::to_owned)))
}

/// `--oidc-client ID:SECRET`.
pub(super) fn parse_client(given: &str) -> Result<Rp> {
    match given.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Rp {
            id: id.to_owned(),
            secret: secret.to_owned(),
            registered_alg: None,
        }),
        _ => bail!("--oidc-client: CLIENT_ID:CLIENT_SECRET"),
    }
}
