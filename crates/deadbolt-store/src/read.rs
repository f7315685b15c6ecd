//! Reads described apart from their making, so that a use case can make several at once with
//! [`Store::read_together`]: one snapshot on SQLite, one round trip on PostgreSQL. A hot path
//! that made its reads one after another paid a round trip (PostgreSQL) or a cache check
//! (SQLite) for each.

use crate::db::{Row, Stmt, Value};
use crate::{Result, Store, StoreError};

/// A SELECT, and how its rows become a `T`.
pub struct Read<T> {
    stmt: Stmt,
    parse: fn(Vec<Row>) -> Result<T>,
}

impl<T> Read<T> {
    pub(crate) fn new(
        sql: &'static str,
        params: Vec<Value>,
        parse: fn(Vec<Row>) -> Result<T>,
    ) -> Self {
        Self {
            stmt: Stmt::new(sql, params),
            parse,
        }
    }
}

/// Reads that can be made together: a tuple of [`Read`]s.
pub trait Reads {
    type Output;
    type Parsers;
    fn split(self) -> (Vec<Stmt>, Self::Parsers);
    fn parse(parsers: Self::Parsers, rows: Vec<Vec<Row>>) -> Result<Self::Output>;
}

fn answer_missing() -> StoreError {
    StoreError::Internal(anyhow::anyhow!("a read of a batch got no answer"))
}

macro_rules! tuple_reads {
    ($($t:ident $i:tt),+) => {
        impl<$($t),+> Reads for ($(Read<$t>,)+) {
            type Output = ($($t,)+);
            type Parsers = ($(fn(Vec<Row>) -> Result<$t>,)+);

            fn split(self) -> (Vec<Stmt>, Self::Parsers) {
                (vec![$(self.$i.stmt),+], ($(self.$i.parse,)+))
            }

            fn parse(parsers: Self::Parsers, rows: Vec<Vec<Row>>) -> Result<Self::Output> {
                let mut rows = rows.into_iter();
                Ok(($((parsers.$i)(rows.next().ok_or_else(answer_missing)?)?,)+))
            }
        }
    };
}

tuple_reads!(A 0, B 1);
tuple_reads!(A 0, B 1, C 2);
tuple_reads!(A 0, B 1, C 2, D 3);

impl Store {
    /// Makes one read.
    pub async fn read<T>(&self, read: Read<T>) -> Result<T> {
        let rows = self.db.query(read.stmt.sql, read.stmt.params).await?;
        (read.parse)(rows)
    }

    /// Makes independent reads at once; their results in the same order.
    pub async fn read_together<R: Reads>(&self, reads: R) -> Result<R::Output> {
        let (stmts, parsers) = reads.split();
        let rows = self.db.query_many(stmts).await?;
        R::parse(parsers, rows)
    }
}
