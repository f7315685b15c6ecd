//! The narrow waist between the store's queries and the two database drivers: positional
//! parameters, rows of plain values, and all-or-nothing statement batches. Queries are written
//! once, with `$1`-style placeholders, in the subset of SQL both SQLite and PostgreSQL speak.

use crate::StoreError;
use async_trait::async_trait;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Builds a parameter list: `params![a, b]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Value::from($v)),*] };
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("missing column {i}")))
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        match self.get(i)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(v) => Ok(*v != 0),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected boolean, got {other:?}"
            ))),
        }
    }

    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.bytes(i).map(Some),
        }
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(i)? {
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected bytes, got {other:?}"
            ))),
        }
    }
}

/// What a statement in a batch must achieve for the batch to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any number of rows.
    Any,
    /// At least one row changed, else the whole batch rolls back: how conditional updates
    /// ("only if not yet used") guard the statements after them.
    Changed,
}

#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Value>,
    pub expect: Expect,
}

impl Stmt {
    pub fn new(sql: &'static str, params: Vec<Value>) -> Self {
        Self {
            sql,
            params,
            expect: Expect::Any,
        }
    }

    pub fn guard(sql: &'static str, params: Vec<Value>) -> Self {
        Self {
            sql,
            params,
            expect: Expect::Changed,
        }
    }
}

/// One write in a unit of work that a use case assembles from several concepts (consume a
/// challenge, accept a TOTP step, start a session, record events) and commits at once. Opaque
/// outside the store: only the store writes SQL.
#[derive(Debug, Clone)]
pub struct Write {
    pub(crate) stmt: Stmt,
    queues_message: bool,
}

impl Write {
    pub(crate) fn new(stmt: Stmt) -> Self {
        Self {
            stmt,
            queues_message: false,
        }
    }

    /// A write that puts a message in the outbox: a batch holding one wakes the outbox worker.
    pub(crate) fn queuing_message(stmt: Stmt) -> Self {
        Self {
            stmt,
            queues_message: true,
        }
    }

    /// Whether this write puts a message in the outbox.
    pub fn queues_message(&self) -> bool {
        self.queues_message
    }
}

/// A batch either commits whole or, when a guard found nothing to change, rolls back whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    Committed,
    /// The index of the guard statement that changed no row.
    GuardFailed(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A numbered schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

#[async_trait]
pub trait Db: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    async fn query(&self, sql: &'static str, params: Vec<Value>) -> Result<Vec<Row>, StoreError>;
    async fn execute(&self, sql: &'static str, params: Vec<Value>) -> Result<u64, StoreError>;
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<BatchOutcome, StoreError>;
    /// Several SELECTs that do not depend on each other, made at once: in one read
    /// transaction on SQLite (one snapshot, one look at whether the cache is still good), in one
    /// round trip on PostgreSQL. The rows of each, in order.
    async fn query_many(&self, queries: Vec<Stmt>) -> Result<Vec<Vec<Row>>, StoreError>;
    /// Applies the migrations not yet applied, each in its own transaction, under a lock so
    /// that instances starting together migrate once. Returns how many were applied.
    async fn migrate(&self, migrations: &'static [Migration]) -> Result<usize, StoreError>;
    /// True when the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError> {
        self.query("SELECT 1", vec![]).await.map(|_| ())
    }
}

pub const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
