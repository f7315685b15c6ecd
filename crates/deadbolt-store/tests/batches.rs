//! The all-or-nothing batch and the reads made together, on the backend DEADBOLT_TEST_DATABASE
//! names (sqlite, the default, or postgres at DEADBOLT_TEST_POSTGRES_URL): the same behaviour
//! from both drivers, although PostgreSQL sends a whole batch in one round trip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test"
)]

use deadbolt_store::db::{BatchOutcome, Db, Stmt};
use deadbolt_store::{params, throttle_reads, Store, StoreError};
use deadbolt_test_support::database::{backend, new_postgres_database, Backend};
use std::sync::Arc;
use time::OffsetDateTime;

struct Fresh {
    db: Arc<dyn Db>,
    postgres: bool,
    _dir: tempfile::TempDir,
}

/// An empty database of the backend under test.
async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("temp dir");
    match backend() {
        Backend::Postgres => {
            let url = new_postgres_database("deadbolt_store").await;
            let db = deadbolt_store::postgres::PostgresDb::connect(&url, 4).expect("pool");
            Fresh {
                db: Arc::new(db),
                postgres: true,
                _dir: dir,
            }
        }
        Backend::Sqlite => {
            let db = deadbolt_store::sqlite::SqliteDb::open(&dir.path().join("t.db"))
                .expect("open SQLite");
            Fresh {
                db: Arc::new(db),
                postgres: false,
                _dir: dir,
            }
        }
    }
}

async fn with_table() -> Fresh {
    let f = fresh().await;
    f.db.execute(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
        vec![],
    )
    .await
    .expect("create table");
    f.db.execute("INSERT INTO t (id, n) VALUES (1, 0)", vec![])
        .await
        .expect("first row");
    f
}

fn insert(id: i64) -> Stmt {
    Stmt::new("INSERT INTO t (id, n) VALUES ($1, 0)", params![id])
}

fn bump_if(n: i64) -> Stmt {
    Stmt::guard("UPDATE t SET n = n + 1 WHERE id = 1 AND n = $1", params![n])
}

async fn ids(db: &dyn Db) -> Vec<i64> {
    db.query("SELECT id FROM t ORDER BY id", vec![])
        .await
        .expect("select")
        .iter()
        .map(|r| r.int(0).expect("id"))
        .collect()
}

async fn counter(db: &dyn Db) -> i64 {
    db.query("SELECT n FROM t WHERE id = 1", vec![])
        .await
        .expect("select")[0]
        .int(0)
        .expect("n")
}

#[tokio::test]
async fn a_batch_commits_whole() {
    let f = with_table().await;
    let outcome =
        f.db.batch(vec![insert(2), bump_if(0), insert(3)])
            .await
            .expect("batch");
    assert_eq!(outcome, BatchOutcome::Committed);
    assert_eq!(ids(f.db.as_ref()).await, vec![1, 2, 3]);
    assert_eq!(counter(f.db.as_ref()).await, 1);
}

#[tokio::test]
async fn a_guard_that_changes_nothing_undoes_the_whole_batch_and_names_itself() {
    let f = with_table().await;
    // the writes before the guard and after it are both undone
    let outcome =
        f.db.batch(vec![insert(2), bump_if(0), bump_if(7), insert(3)])
            .await
            .expect("batch");
    assert_eq!(outcome, BatchOutcome::GuardFailed(2));
    assert_eq!(ids(f.db.as_ref()).await, vec![1]);
    assert_eq!(counter(f.db.as_ref()).await, 0);
    // and the connection it ran on is usable again, outside any transaction
    for _ in 0..8 {
        assert_eq!(
            f.db.batch(vec![insert(9), bump_if(99)])
                .await
                .expect("batch"),
            BatchOutcome::GuardFailed(1)
        );
    }
    assert_eq!(
        f.db.batch(vec![insert(4)]).await.expect("batch"),
        BatchOutcome::Committed
    );
    assert_eq!(ids(f.db.as_ref()).await, vec![1, 4]);
}

#[tokio::test]
async fn a_long_batch_is_undone_whole_by_its_last_guard() {
    let f = with_table().await;
    // more statements than a join of futures keeps in order by itself
    for _ in 0..5 {
        let mut stmts: Vec<Stmt> = (100..140).map(insert).collect();
        stmts.push(bump_if(7));
        let outcome = f.db.batch(stmts).await.expect("batch");
        assert_eq!(outcome, BatchOutcome::GuardFailed(40));
        assert_eq!(ids(f.db.as_ref()).await, vec![1]);
    }
    let stmts: Vec<Stmt> = (100..140).map(insert).chain([bump_if(0)]).collect();
    assert_eq!(
        f.db.batch(stmts).await.expect("batch"),
        BatchOutcome::Committed
    );
    assert_eq!(ids(f.db.as_ref()).await.len(), 41);
    assert_eq!(counter(f.db.as_ref()).await, 1);
}

#[tokio::test]
async fn an_error_in_a_batch_undoes_it_and_says_what_it_was() {
    let f = with_table().await;
    let outcome = f.db.batch(vec![insert(2), bump_if(0), insert(1)]).await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict)),
        "a duplicate key is a conflict: {outcome:?}"
    );
    assert_eq!(ids(f.db.as_ref()).await, vec![1]);
    assert_eq!(counter(f.db.as_ref()).await, 0);
}

#[tokio::test]
async fn a_parameter_postgres_cannot_take_fails_the_batch_before_anything_is_written() {
    let f = with_table().await;
    if !f.postgres {
        // SQLite's integers are all 64-bit: there is no encoding step to fail
        return;
    }
    f.db.execute("CREATE TABLE small (n INTEGER NOT NULL)", vec![])
        .await
        .expect("create table");
    // a 64-bit value for a 32-bit column fails in the client, so that statement is never sent:
    // the statements around it must not commit without it
    let outcome =
        f.db.batch(vec![
            insert(2),
            Stmt::new("INSERT INTO small (n) VALUES ($1)", params![i64::MAX]),
            insert(3),
        ])
        .await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(ids(f.db.as_ref()).await, vec![1]);
    let small =
        f.db.query("SELECT COUNT(*) FROM small", vec![])
            .await
            .expect("count");
    assert_eq!(small[0].int(0).expect("count"), 0);
}

#[tokio::test]
async fn reads_made_together_answer_in_order() {
    let f = fresh().await;
    let store = Store::new(f.db.clone());
    store.migrate().await.expect("migrate");
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
    let long_ago = now - time::Duration::HOUR;
    store
        .record_failure(&["a".to_owned(), "b".to_owned()], now, long_ago)
        .await
        .expect("failure");
    store
        .record_failure(&["b".to_owned()], now, long_ago)
        .await
        .expect("failure");
    let (a, b, c) = store
        .read_together((
            throttle_reads::failure_window("a", long_ago),
            throttle_reads::failure_window("b", long_ago),
            throttle_reads::failure_window("c", long_ago),
        ))
        .await
        .expect("reads");
    assert_eq!((a.count, b.count, c.count), (1, 2, 0));
    assert_eq!(b.oldest, Some(now));
    assert_eq!(c.oldest, None);
}
