//! PostgreSQL through tokio-postgres with a deadpool pool. Statements are prepared once per
//! connection and cached.

use crate::db::{BatchOutcome, Db, Dialect, Expect, Migration, Row, Stmt, Value, MIGRATIONS_TABLE};
use crate::StoreError;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::join_all;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::private::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Statement};

#[derive(Clone)]
pub struct PostgresDb {
    pool: Pool,
}

/// Any lock id will do as long as every instance uses the same one.
const MIGRATION_LOCK_ID: i64 = 0x0dea_db01;

impl PostgresDb {
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        Ok(Self { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL connection: {e}")))
    }
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Conflict,
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::MissingReference,
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Unavailable("transaction conflict; retry".to_owned())
        }
        _ if connection_ended(&e) => {
            StoreError::Unavailable("PostgreSQL connection closed".to_owned())
        }
        _ => StoreError::Internal(anyhow::Error::new(e)),
    }
}

/// The server ended this connection (or is shutting down): another connection may work.
fn connection_ended(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|code| {
            *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        })
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Bytes(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn read_row(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int))
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Value::Int(v.into())))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map(|v| v.map(Value::Bool))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)
                .map(|v| v.map(Value::Bytes))
        } else {
            row.try_get::<_, Option<String>>(i)
                .map(|v| v.map(Value::Text))
        };
        out.push(v.map_err(pg_error)?.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

/// A request to the server, sent when first polled.
type Request<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// Every future polled in order, each poll, until all are done; their outputs in order. Each
/// request goes out when its future is first polled, so the first poll sends them all, in
/// order: what a pipelined transaction needs. (`join_all` gives that only up to 30 futures;
/// past that it may stop a poll half-way and let the COMMIT out before the statements after.)
async fn join_in_order<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut pending: Vec<_> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *output = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// A guard as one statement that fails when the write changed no row: it divides by the
/// number of rows the write returned, so that the transaction aborts on the server without
/// waiting for the client to look at the count.
fn guarded(sql: &str) -> String {
    format!("WITH guarded AS ({sql} RETURNING 1) SELECT 1 / COUNT(*) FROM guarded")
}

/// Fails as tokio-postgres would while encoding, before anything is sent.
fn encodable(statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<(), StoreError> {
    let types = statement.params();
    if types.len() != params.len() {
        return Err(StoreError::Internal(anyhow::anyhow!(
            "statement expects {} parameters, got {}",
            types.len(),
            params.len()
        )));
    }
    let mut scratch = BytesMut::new();
    for (param, ty) in params.iter().zip(types) {
        scratch.clear();
        param
            .to_sql_checked(ty, &mut scratch)
            .map_err(|e| StoreError::Internal(anyhow::anyhow!("parameter of type {ty}: {e}")))?;
    }
    Ok(())
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

#[async_trait]
impl Db for PostgresDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    /// A connection the server ended stays in the pool until it is next used, so one stale
    /// connection must not make a database that is back look down: try past the stale ones
    /// (each is dropped by the pool once it has failed).
    async fn ping(&self) -> Result<(), StoreError> {
        for _ in 0..=self.pool.status().max_size {
            let client = self.client().await?;
            match client.simple_query("SELECT 1").await {
                Ok(_) => return Ok(()),
                Err(e) if connection_ended(&e) => continue,
                Err(e) => return Err(pg_error(e)),
            }
        }
        Err(StoreError::Unavailable(
            "PostgreSQL connections keep closing".to_owned(),
        ))
    }

    async fn query(&self, sql: &'static str, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_error)?;
        let rows = client
            .query(&stmt, &refs(&params))
            .await
            .map_err(pg_error)?;
        rows.iter().map(read_row).collect()
    }

    async fn execute(&self, sql: &'static str, params: Vec<Value>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_error)?;
        client
            .execute(&stmt, &refs(&params))
            .await
            .map_err(pg_error)
    }

    /// Pipelined on one connection: every query goes out before the first answer comes back.
    async fn query_many(&self, queries: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        let client = self.client().await?;
        let prepared = join_all(queries.iter().map(|q| client.prepare_cached(q.sql)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(pg_error)?;
        let params: Vec<Vec<&(dyn ToSql + Sync)>> =
            queries.iter().map(|q| refs(&q.params)).collect();
        join_all(
            prepared
                .iter()
                .zip(&params)
                .map(|(statement, params)| client.query(statement, params)),
        )
        .await
        .into_iter()
        .map(|rows| rows.map_err(pg_error)?.iter().map(read_row).collect())
        .collect()
    }

    /// One round trip: BEGIN, the statements and COMMIT go out pipelined, and the server runs
    /// them in order. A guard that changes no row raises an error (see [`guarded`]), which
    /// aborts the transaction, so the COMMIT at the end rolls it back instead; the statements
    /// after it fail unrun. Everything is sent before the first answer is awaited: a caller
    /// that goes away after that leaves the server to finish the transaction on its own, and
    /// the connection returns to the pool outside any transaction.
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<BatchOutcome, StoreError> {
        let client = self.client().await?;
        let sql: Vec<Cow<'static, str>> = stmts
            .iter()
            .map(|s| match s.expect {
                Expect::Changed => Cow::Owned(guarded(s.sql)),
                Expect::Any => Cow::Borrowed(s.sql),
            })
            .collect();
        let prepared = join_all(sql.iter().map(|q| client.prepare_cached(q)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(pg_error)?;
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = stmts.iter().map(|s| refs(&s.params)).collect();
        // A statement whose parameters fail to encode would not be sent, and the COMMIT would
        // keep the others: check them all before anything goes out.
        for (statement, params) in prepared.iter().zip(&params) {
            encodable(statement, params)?;
        }
        let mut requests: Vec<Request<'_>> = Vec::with_capacity(stmts.len() + 2);
        requests.push(Box::pin(async {
            client.batch_execute("BEGIN").await.map(|()| 0)
        }));
        for (statement, params) in prepared.iter().zip(&params) {
            requests.push(Box::pin(client.execute(statement, params)));
        }
        requests.push(Box::pin(async {
            client.batch_execute("COMMIT").await.map(|()| 0)
        }));
        let mut answers = join_in_order(requests).await.into_iter();
        answers
            .next()
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("BEGIN got no answer")))?
            .map_err(pg_error)?;
        let committed = answers
            .next_back()
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("COMMIT got no answer")))?;
        let results = answers;
        // the first failure is the cause; the statements after it only found the transaction
        // aborted
        if let Some((i, e)) = results
            .into_iter()
            .enumerate()
            .find_map(|(i, r)| r.err().map(|e| (i, e)))
        {
            return match (stmts.get(i), e.code()) {
                (Some(s), Some(code))
                    if s.expect == Expect::Changed && *code == SqlState::DIVISION_BY_ZERO =>
                {
                    Ok(BatchOutcome::GuardFailed(i))
                }
                _ => Err(pg_error(e)),
            };
        }
        committed.map_err(pg_error)?;
        Ok(BatchOutcome::Committed)
    }

    async fn migrate(&self, migrations: &'static [Migration]) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let mut applied = 0;
        for m in migrations {
            let tx = client.transaction().await.map_err(pg_error)?;
            // Transaction-scoped: instances starting together take turns, then see the row.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_ID])
                .await
                .map_err(pg_error)?;
            tx.batch_execute(MIGRATIONS_TABLE).await.map_err(pg_error)?;
            let done = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[&m.version],
                )
                .await
                .map_err(pg_error)?;
            if done.is_none() {
                tx.batch_execute(m.sql).await.map_err(pg_error)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    &[&m.version, &m.name, &crate::unix_millis_now()],
                )
                .await
                .map_err(pg_error)?;
                applied += 1;
            }
            tx.commit().await.map_err(pg_error)?;
        }
        Ok(applied)
    }
}
