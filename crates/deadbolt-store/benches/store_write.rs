//! The store's hot write: a single-row conditional UPDATE ("move this counter forward only if it
//! is behind"), as TOTP replay protection and single-use tokens do it, through the SQLite driver
//! in WAL mode on a file. Every iteration's update succeeds (the step only grows).
//!
//! - `sequential/execute`: one autocommit statement at a time.
//! - `sequential/batch_guard`: the same statement as a guard in an IMMEDIATE transaction, the
//!   form the store's multi-statement writes take.
//! - `concurrent/*`: 8 tasks updating their own rows at once, through the driver's one
//!   connection, and through four connections to the same file (what a pool would do), which
//!   is why the driver keeps one connection.
//!
//! `cargo bench -p deadbolt-store --bench store_write` (about 20 s).

use criterion::{BenchmarkId, Criterion, Throughput};
use deadbolt_store::db::{BatchOutcome, Db, Stmt, Value};
use deadbolt_store::sqlite::SqliteDb;
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CREATE: &str = "CREATE TABLE counters (id TEXT PRIMARY KEY, step BIGINT NOT NULL)";
const INSERT: &str = "INSERT INTO counters (id, step) VALUES ($1, 0)";
const UPDATE: &str = "UPDATE counters SET step = $1 WHERE id = $2 AND step < $1";
const READ: &str = "SELECT step FROM counters WHERE id = $1";

/// Tasks writing at once in the concurrent cases.
const WRITERS: usize = 8;
/// Connections to the one file in the "pool" case.
const POOL: usize = 4;

type BenchResult = Result<(), Box<dyn std::error::Error>>;

async fn setup(path: &Path) -> Result<SqliteDb, Box<dyn std::error::Error>> {
    let db = SqliteDb::open(path)?;
    db.batch(vec![Stmt::new(CREATE, vec![])]).await?;
    let mut rows = vec![Stmt::new(INSERT, vec![Value::from("seq")])];
    for w in 0..WRITERS {
        rows.push(Stmt::new(INSERT, vec![Value::Text(format!("w{w}"))]));
    }
    db.batch(rows).await?;
    let mode = db.query("PRAGMA journal_mode", vec![]).await?;
    let mode = mode.first().map(|r| r.text(0)).transpose()?;
    if mode.as_deref() != Some("wal") {
        return Err(format!("expected WAL mode, got {mode:?}").into());
    }
    Ok(db)
}

/// Sequential cases: each iteration moves row `seq` one step forward and must change one row.
fn sequential(c: &mut Criterion, rt: &tokio::runtime::Runtime, db: &SqliteDb) -> BenchResult {
    let step = Cell::new(0i64);
    let misses = Cell::new(0u64);
    let mut group = c.benchmark_group("conditional_update/sequential");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    group.bench_function("execute", |b| {
        b.to_async(rt).iter(|| {
            let next = step.get() + 1;
            step.set(next);
            let misses = &misses;
            async move {
                let changed = db
                    .execute(UPDATE, vec![Value::Int(next), "seq".into()])
                    .await;
                if !matches!(changed, Ok(1)) {
                    misses.set(misses.get() + 1);
                }
            }
        });
    });
    group.bench_function("batch_guard", |b| {
        b.to_async(rt).iter(|| {
            let next = step.get() + 1;
            step.set(next);
            let misses = &misses;
            async move {
                let outcome = db
                    .batch(vec![Stmt::guard(
                        UPDATE,
                        vec![Value::Int(next), "seq".into()],
                    )])
                    .await;
                if !matches!(outcome, Ok(BatchOutcome::Committed)) {
                    misses.set(misses.get() + 1);
                }
            }
        });
    });
    group.finish();

    let stored = rt.block_on(db.query(READ, vec!["seq".into()]))?;
    let stored = stored.first().map(|r| r.int(0)).transpose()?;
    if misses.get() != 0 || stored != Some(step.get()) {
        return Err(format!(
            "{} updates changed no row; stored step {stored:?}, expected {}",
            misses.get(),
            step.get()
        )
        .into());
    }
    Ok(())
}

/// `iters` updates spread over [`WRITERS`] tasks, each on its own row, through `dbs` round-robin.
async fn concurrent_round(
    dbs: &[SqliteDb],
    steps: &Arc<[AtomicI64; WRITERS]>,
    misses: &Arc<AtomicU64>,
    iters: u64,
) -> Duration {
    let per_task = iters.div_ceil(WRITERS as u64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let db = dbs[w % dbs.len()].clone();
        let steps = steps.clone();
        let misses = misses.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("w{w}");
            for _ in 0..per_task {
                let next = steps[w].fetch_add(1, Ordering::Relaxed) + 1;
                let changed = db
                    .execute(UPDATE, vec![Value::Int(next), Value::Text(id.clone())])
                    .await;
                if !matches!(changed, Ok(1)) {
                    misses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        if t.await.is_err() {
            misses.fetch_add(1, Ordering::Relaxed);
        }
    }
    // report the time per requested iteration even when rounding made a few extra
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * WRITERS as u64) as f64)
}

fn concurrent(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    db: &SqliteDb,
    path: &Path,
) -> BenchResult {
    let mut pool = vec![db.clone()];
    for _ in 1..POOL {
        pool.push(SqliteDb::open(path)?);
    }
    let steps: Arc<[AtomicI64; WRITERS]> = Arc::new(std::array::from_fn(|_| AtomicI64::new(0)));
    let misses = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group("conditional_update/concurrent");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for (name, dbs) in [
        ("one_connection", &pool[..1]),
        ("four_connections", &pool[..]),
    ] {
        group.bench_function(BenchmarkId::new(name, WRITERS), |b| {
            b.to_async(rt)
                .iter_custom(|iters| concurrent_round(dbs, &steps, &misses, iters));
        });
    }
    group.finish();

    let misses = misses.load(Ordering::Relaxed);
    if misses != 0 {
        // contention across connections can exhaust the busy timeout: report it, do not hide it
        eprintln!("concurrent: {misses} updates failed or changed no row");
    }
    Ok(())
}

fn main() -> BenchResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let db = rt.block_on(setup(&path))?;

    let mut c = Criterion::default().configure_from_args();
    sequential(&mut c, &rt, &db)?;
    concurrent(&mut c, &rt, &db, &path)?;
    c.final_summary();
    Ok(())
}
