//! SQLite through rusqlite: one connection in WAL mode behind an async mutex. A single
//! connection serialises writes, which SQLite does anyway; measured, it beats a pool whose
//! writers spin on the database lock (see benches/store_write.rs).
//!
//! Statements run inline on the task that holds the connection: they take microseconds, and
//! handing each one to the blocking pool cost more in thread switches than the statement itself
//! (a third of the CPU of a second-factor check, by perf). Waiting for the connection parks the
//! task, not the thread. The one way a statement can take long is another *process* holding the
//! write lock (busy_timeout); several processes on one SQLite file is not how Deadbolt scales
//! (use PostgreSQL), so that case may stall a runtime thread for a moment.

use crate::db::{BatchOutcome, Db, Dialect, Expect, Migration, Row, Stmt, Value, MIGRATIONS_TABLE};
use crate::StoreError;
use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The one connection that writes, and a few that only read: WAL lets readers work beside the
/// writer, so reads need not queue behind writes.
#[derive(Clone)]
pub struct SqliteDb {
    conn: Arc<Mutex<Connection>>,
    /// Write batches waiting for the writer (see `batch`).
    waiting: Arc<std::sync::Mutex<Waiting>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
    /// Alive while any clone of this handle is: the checkpointer thread stops when it is gone.
    _alive: Arc<()>,
}

/// How often the background thread moves the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Checkpoints the WAL from a thread of its own. Left to the writer, a checkpoint (with its
/// fsync) ran inside whichever commit crossed the threshold, holding the write lock: every
/// writer waited, and the second-factor check lost a third of its throughput. A PASSIVE
/// checkpoint never blocks writers; the RESTART after it blocks them only while it copies the
/// frames written meanwhile, and waits for readers at most `RESTART_WAIT` (a long reader, such
/// as a backup, makes it give up for that round instead of stalling every writer).
fn spawn_checkpointer(path: &Path, alive: std::sync::Weak<()>) -> Result<(), StoreError> {
    let conn = connect(path, READER_CACHE_KIB)?;
    conn.busy_timeout(RESTART_WAIT).map_err(internal)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                // PASSIVE copies most frames without blocking anyone; then RESTART copies the
                // few written meanwhile (blocking writers only for that) and waits for readers
                // to leave the log, so the next writer starts it again from the beginning.
                for mode in ["PASSIVE", "RESTART"] {
                    let sql = format!("PRAGMA wal_checkpoint({mode})");
                    // the result row's first column is 1 when the checkpoint was kept from
                    // finishing (busy): normal under load, tried again next round
                    if let Err(e) = conn.query_row(&sql, [], |_| Ok(())) {
                        tracing::warn!(error = %e, mode, "sqlite: checkpoint failed");
                    }
                }
            }
        })
        .map_err(|e| StoreError::Internal(anyhow::Error::new(e)))?;
    Ok(())
}

const READERS: usize = 4;

/// How long the RESTART checkpoint waits for readers (and holds writers) before giving up.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Page cache of the writer, in KiB: its cache stays valid across its own commits.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// Page cache of each reader, in KiB. A reader drops its whole cache whenever another
/// connection has committed since its last read, which under write load is every read: a big
/// cache then only costs (dropping it showed as a fifth of the CPU in the verify benchmark).
const READER_CACHE_KIB: i64 = 1024;

fn connect(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(internal)?;
    // WAL lets readers (other connections, other processes) work beside the writer; NORMAL sync
    // is durable across process crashes, and only risks the last commits on power loss. The page
    // cache keeps hot pages out of read() calls. (A memory map was tried and
    // cost more than it saved: the file grows with every insert, and each connection remaps.)
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 0;",
    )
    .map_err(internal)?;
    conn.pragma_update(None, "cache_size", -cache_kib)
        .map_err(internal)?;
    // every statement the service makes stays prepared (rusqlite keeps 16 by default: fewer
    // than one sign-in uses, so statements were compiled again and again)
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl SqliteDb {
    /// Opens (creating if needed) the database file and sets it up for concurrent use.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = connect(path, WRITER_CACHE_KIB)?;
        let readers = (0..READERS)
            .map(|_| connect(path, READER_CACHE_KIB).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let alive = Arc::new(());
        spawn_checkpointer(path, Arc::downgrade(&alive))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            waiting: Arc::default(),
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
            _alive: alive,
        })
    }

    async fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().await;
        f(&mut guard)
    }

    /// A plain SELECT goes to a reader (whichever is free, else the next in turn); anything
    /// else, `UPDATE … RETURNING` included, to the writer.
    async fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for r in self.readers.iter() {
            if let Ok(mut guard) = r.try_lock() {
                return f(&mut guard);
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len().max(1);
        match self.readers.get(i) {
            Some(r) => f(&mut *r.lock().await),
            None => self.with_conn(f).await,
        }
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<BatchOutcome, StoreError>>;

/// Batches waiting for the writer, each with its ticket and where its outcome goes.
#[derive(Default)]
struct Waiting {
    next_ticket: u64,
    batches: Vec<(u64, Vec<Stmt>, Reply)>,
}

impl Waiting {
    fn join(&mut self, stmts: Vec<Stmt>, reply: Reply) -> u64 {
        self.next_ticket += 1;
        self.batches.push((self.next_ticket, stmts, reply));
        self.next_ticket
    }
}

fn lock(waiting: &std::sync::Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    // the queue is consistent after any panic: entries are pushed or taken whole
    waiting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes a batch out of the queue if it is still there when its caller goes away.
struct Withdraw<'a> {
    waiting: &'a std::sync::Mutex<Waiting>,
    ticket: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        lock(self.waiting)
            .batches
            .retain(|(ticket, _, _)| *ticket != self.ticket);
    }
}

/// One batch inside the group's transaction: its statements in order, a failed guard or an
/// error undoing only this batch (its savepoint).
fn run_batch(
    tx: &mut rusqlite::Transaction<'_>,
    stmts: &[Stmt],
) -> Result<BatchOutcome, StoreError> {
    let savepoint = tx.savepoint().map_err(internal)?;
    for (i, s) in stmts.iter().enumerate() {
        let changed = run_execute(&savepoint, s.sql, &s.params)?;
        if s.expect == Expect::Changed && changed == 0 {
            // dropping the savepoint rolls it back
            return Ok(BatchOutcome::GuardFailed(i));
        }
    }
    savepoint.commit().map_err(internal)?;
    Ok(BatchOutcome::Committed)
}

/// Commits a group of batches in one transaction and tells each caller its outcome. When the
/// transaction itself fails (to begin or to commit), every batch in it fails.
fn commit_group(conn: &mut Connection, group: Vec<(u64, Vec<Stmt>, Reply)>) {
    let outcomes = (|| {
        let mut tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(internal)?;
        let mut outcomes = Vec::with_capacity(group.len());
        for (_, stmts, _) in &group {
            outcomes.push(run_batch(&mut tx, stmts));
            // some errors (disk full, I/O, out of memory) roll back the whole transaction:
            // the batches before are gone too, and a later savepoint would start a new one
            if tx.is_autocommit() {
                return Err(StoreError::Unavailable(
                    "the database rolled the transaction back".to_owned(),
                ));
            }
        }
        tx.commit().map_err(internal)?;
        Ok::<_, StoreError>(outcomes)
    })();
    match outcomes {
        Ok(outcomes) => {
            for ((_, _, reply), outcome) in group.into_iter().zip(outcomes) {
                // a caller that went away meanwhile needs no answer
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            for (_, _, reply) in group {
                let _ = reply.send(Err(shared_failure(&e)));
            }
        }
    }
}

/// The failure of a group's transaction, for each of its batches.
fn shared_failure(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        other => StoreError::Internal(anyhow::anyhow!("group commit failed: {other}")),
    }
}

/// `$1` → `?1`: queries are written in PostgreSQL's placeholder style.
fn to_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

fn internal(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, _) = &e {
        if err.code == ErrorCode::ConstraintViolation
            && (err.extended_code == 2067 || err.extended_code == 1555)
        {
            return StoreError::Conflict;
        }
        // SQLITE_CONSTRAINT_FOREIGNKEY
        if err.code == ErrorCode::ConstraintViolation && err.extended_code == 787 {
            return StoreError::MissingReference;
        }
        if matches!(
            err.code,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
        ) {
            return StoreError::Unavailable("database is busy".to_owned());
        }
    }
    StoreError::Internal(anyhow::Error::new(e))
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn read_row(row: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Int(v as i64),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        });
    }
    Ok(Row(out))
}

fn run_query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&to_sqlite(sql)).map_err(internal)?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter()), |r| {
            read_row(r, n)
        })
        .map_err(internal)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(internal)
}

fn run_execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(&to_sqlite(sql)).map_err(internal)?;
    let n = stmt
        .execute(rusqlite::params_from_iter(params.iter()))
        .map_err(internal)?;
    Ok(n as u64)
}

#[async_trait]
impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn query(&self, sql: &'static str, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        if sql.trim_start().starts_with("SELECT") {
            self.with_reader(move |c| run_query(c, sql, &params)).await
        } else {
            self.with_conn(move |c| run_query(c, sql, &params)).await
        }
    }

    async fn execute(&self, sql: &'static str, params: Vec<Value>) -> Result<u64, StoreError> {
        self.with_conn(move |c| run_execute(c, sql, &params)).await
    }

    async fn query_many(&self, queries: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError> {
        let read_only = queries
            .iter()
            .all(|q| q.sql.trim_start().starts_with("SELECT"));
        let run = move |c: &mut Connection| {
            // deferred: the snapshot starts at the first SELECT and serves them all
            let tx = c.transaction().map_err(internal)?;
            let rows = queries
                .iter()
                .map(|q| run_query(&tx, q.sql, &q.params))
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit().map_err(internal)?;
            Ok(rows)
        };
        if read_only {
            self.with_reader(run).await
        } else {
            self.with_conn(run).await
        }
    }

    /// Group commit: a batch joins the queue, and whoever holds the writer next commits every
    /// queued batch in one transaction, each in a savepoint of its own (so each commits or
    /// rolls back alone). Concurrent sign-ins touch the same pages (sessions, tokens, events
    /// and their indexes); one commit writes each page to the log once for the whole group
    /// instead of once per batch, and readers drop their caches once per group.
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<BatchOutcome, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ticket = lock(&self.waiting).join(stmts, reply);
        // a caller that goes away before its batch is taken takes the batch back with it
        let _withdraw = Withdraw {
            waiting: &self.waiting,
            ticket,
        };
        let mut answer = answer;
        let outcome = tokio::select! {
            biased;
            // another holder of the writer committed this batch with its group
            done = &mut answer => done,
            mut conn = self.conn.lock() => {
                let group = std::mem::take(&mut lock(&self.waiting).batches);
                if !group.is_empty() {
                    commit_group(&mut conn, group);
                }
                drop(conn);
                answer.await
            }
        };
        outcome.map_err(|_| StoreError::Internal(anyhow::anyhow!("a queued batch was dropped")))?
    }

    async fn migrate(&self, migrations: &'static [Migration]) -> Result<usize, StoreError> {
        self.with_conn(move |c| {
            let mut applied = 0;
            for m in migrations {
                // IMMEDIATE takes the write lock first: a second process waits, then sees the row.
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(internal)?;
                tx.execute_batch(MIGRATIONS_TABLE).map_err(internal)?;
                let done: Option<i64> = tx
                    .query_row(
                        "SELECT version FROM schema_migrations WHERE version = ?1",
                        [m.version],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(internal)?;
                if done.is_none() {
                    tx.execute_batch(m.sql).map_err(internal)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                        rusqlite::params![m.version, m.name, crate::unix_millis_now()],
                    )
                    .map_err(internal)?;
                    applied += 1;
                }
                tx.commit().map_err(internal)?;
            }
            Ok(applied)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params;

    async fn table() -> (tempfile::TempDir, SqliteDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).unwrap();
        db.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
            vec![],
        )
        .await
        .unwrap();
        db.execute("INSERT INTO t (id, n) VALUES (1, 0)", vec![])
            .await
            .unwrap();
        (dir, db)
    }

    fn take_if(n: i64) -> Stmt {
        Stmt::guard("UPDATE t SET n = n + 1 WHERE id = 1 AND n = $1", params![n])
    }

    fn insert(id: i64) -> Stmt {
        Stmt::new("INSERT INTO t (id, n) VALUES ($1, 0)", params![id])
    }

    #[tokio::test]
    async fn batches_committed_together_keep_their_own_outcomes() {
        let (_dir, db) = table().await;
        // many batches at once: they share commits, but each guard decides for its batch only
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { db.batch(vec![insert(100 + i), take_if(0)]).await })
            })
            .collect();
        let mut committed = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                BatchOutcome::Committed => committed += 1,
                BatchOutcome::GuardFailed(i) => assert_eq!(i, 1),
            }
        }
        assert_eq!(committed, 1);
        // the losers' inserts were rolled back with their batch; the winner's stayed
        let rows = db
            .query("SELECT COUNT(*) FROM t WHERE id >= 100", vec![])
            .await
            .unwrap();
        assert_eq!(rows[0].int(0).unwrap(), 1);
        // an error undoes its own batch, not the others
        let bad = db.batch(vec![insert(200), insert(1)]);
        let good = db.batch(vec![insert(201)]);
        let (bad, good) = tokio::join!(bad, good);
        assert!(bad.is_err());
        assert_eq!(good.unwrap(), BatchOutcome::Committed);
        let rows = db
            .query("SELECT id FROM t WHERE id >= 200", vec![])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].int(0).unwrap(), 201);
    }
}
