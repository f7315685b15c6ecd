//! Access tokens: EdDSA (Ed25519) sign and verify, with the key ring built the way the server
//! builds it (sealed keys in a fresh SQLite database under a fixed master key).
//!
//! `cargo bench -p deadbolt-server --bench jwt` (about 10 s).

use criterion::{Criterion, Throughput};
use deadbolt_core::auth::AuthMethod;
use deadbolt_core::clock::Clock;
use deadbolt_core::ids::{AccountId, SessionId};
use deadbolt_store::Store;
use deadbolt_usecases::jwt::{self, AccessClaims};
use deadbolt_usecases::keyring::KeyRing;
use deadbolt_usecases::master_key::{MasterKey, MasterKeys};
use deadbolt_usecases::system::{OsRandom, SystemClock};
use std::hint::black_box;
use std::time::Duration;

const ISSUER: &str = "http://127.0.0.1:8080";
const AUDIENCE: &str = "deadbolt";

fn keyring(dir: &std::path::Path) -> anyhow::Result<KeyRing> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let url = format!("sqlite://{}", dir.join("b.db").display());
        let store = Store::open(&url, 1)?;
        store.migrate().await?;
        let master = MasterKeys::from_keys(vec![MasterKey::from_bytes(&[7u8; 32])])?;
        KeyRing::load_or_create(&store, &master, &SystemClock, &OsRandom).await
    })
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = keyring(dir.path())?;
    let rng = OsRandom;
    let now = SystemClock.now();
    let methods = [AuthMethod::Password];
    let claims = AccessClaims {
        iss: ISSUER.to_owned(),
        sub: AccountId::generate(&rng),
        aud: AUDIENCE.to_owned(),
        iat: now.unix_timestamp(),
        exp: now.unix_timestamp() + 900,
        jti: uuid::Uuid::new_v4(),
        sid: SessionId::generate(&rng),
        auth_time: now.unix_timestamp(),
        amr: deadbolt_core::auth::amr(&methods),
        acr: "aal1".to_owned(),
    };
    let token = jwt::sign(&keys, &claims)?;
    // measure the success paths only
    let checked = jwt::verify(&keys, &token, ISSUER, AUDIENCE, now)
        .map_err(|e| anyhow::anyhow!("a fresh token does not verify: {e}"))?;
    anyhow::ensure!(
        checked == claims,
        "verified claims differ from the signed ones"
    );

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("access_token");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    group.bench_function("sign_eddsa", |b| {
        b.iter(|| jwt::sign(&keys, black_box(&claims)));
    });
    // the signature itself, as a token seen for the first time costs
    group.bench_function("verify_eddsa", |b| {
        let signing = keys.signing();
        b.iter(|| jwt::verify_signature(&signing, black_box(&token), ISSUER, AUDIENCE, now));
    });
    // a token this key set verified before (every call after a client's first)
    group.bench_function("verify_remembered", |b| {
        b.iter(|| jwt::verify(&keys, black_box(&token), ISSUER, AUDIENCE, now));
    });
    group.finish();
    c.final_summary();
    Ok(())
}
