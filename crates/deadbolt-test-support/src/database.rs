//! The database backend under test, and a fresh database of it for each test.
//!
//! `DEADBOLT_TEST_DATABASE` names the backend: `sqlite` (the default when it is unset) or
//! `postgres`; any other value fails the test. PostgreSQL needs `DEADBOLT_TEST_POSTGRES_URL`, a
//! server where the tests may create databases (`scripts/with-postgres.sh COMMAND` starts a
//! throwaway one): without it a PostgreSQL run fails, it never falls back to SQLite or skips.

use std::path::Path;

/// The backend the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend `DEADBOLT_TEST_DATABASE` names.
pub fn backend() -> Backend {
    match std::env::var("DEADBOLT_TEST_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("DEADBOLT_TEST_DATABASE must be sqlite or postgres, not {other:?}"),
    }
}

/// `DEADBOLT_TEST_POSTGRES_URL`: the server where the tests create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("DEADBOLT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "DEADBOLT_TEST_DATABASE=postgres needs DEADBOLT_TEST_POSTGRES_URL \
             (postgres://user@host:port/db of a server where it may create databases); \
             `bash scripts/with-postgres.sh COMMAND` starts one"
        )
    })
}

/// A connection to `DEADBOLT_TEST_POSTGRES_URL`, driven on the current Tokio runtime.
pub async fn postgres_admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to DEADBOLT_TEST_POSTGRES_URL");
    tokio::spawn(conn);
    client
}

/// Creates an empty PostgreSQL database named `{prefix}_{random UUID}` (unique across parallel
/// tests and processes) on `DEADBOLT_TEST_POSTGRES_URL`'s server: its URL. The database is left
/// behind; the server is a throwaway one.
pub async fn new_postgres_database(prefix: &str) -> String {
    let admin_url = postgres_admin_url();
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    postgres_admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// A fresh database URL of the backend under test: `sqlite://` and `sqlite_file` (a path the
/// test owns, usually in its temporary directory), or a new PostgreSQL database named after
/// `postgres_prefix` (see [`new_postgres_database`]).
pub async fn fresh_database_url(sqlite_file: &Path, postgres_prefix: &str) -> String {
    match backend() {
        Backend::Sqlite => format!("sqlite://{}", sqlite_file.display()),
        Backend::Postgres => new_postgres_database(postgres_prefix).await,
    }
}
