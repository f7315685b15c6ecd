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

/// Reads that can be made together: a [`Read`], `()` (none), or a tuple of these, nested as
/// deep as a caller likes (a helper can make its reads together with its caller's).
pub trait Reads {
    type Output;
    type Parsers;
    /// The statements in order, and how to read their rows back.
    fn split(self, into: &mut Vec<Stmt>) -> Self::Parsers;
    /// Takes this read's rows from the front of `rows`.
    fn parse(
        parsers: Self::Parsers,
        rows: &mut impl Iterator<Item = Vec<Row>>,
    ) -> Result<Self::Output>;
}

fn answer_missing() -> StoreError {
    StoreError::Internal(anyhow::anyhow!("a read of a batch got no answer"))
}

impl<T> Reads for Read<T> {
    type Output = T;
    type Parsers = fn(Vec<Row>) -> Result<T>;

    fn split(self, into: &mut Vec<Stmt>) -> Self::Parsers {
        into.push(self.stmt);
        self.parse
    }

    fn parse(parse: Self::Parsers, rows: &mut impl Iterator<Item = Vec<Row>>) -> Result<T> {
        parse(rows.next().ok_or_else(answer_missing)?)
    }
}

impl Reads for () {
    type Output = ();
    type Parsers = ();

    fn split(self, _: &mut Vec<Stmt>) {}

    fn parse(_: (), _: &mut impl Iterator<Item = Vec<Row>>) -> Result<()> {
        Ok(())
    }
}

macro_rules! tuple_reads {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Reads),+> Reads for ($($t,)+) {
            type Output = ($($t::Output,)+);
            type Parsers = ($($t::Parsers,)+);

            fn split(self, into: &mut Vec<Stmt>) -> Self::Parsers {
                ($(self.$i.split(into),)+)
            }

            fn parse(
                parsers: Self::Parsers,
                rows: &mut impl Iterator<Item = Vec<Row>>,
            ) -> Result<Self::Output> {
                Ok(($($t::parse(parsers.$i, rows)?,)+))
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
        let mut stmts = Vec::new();
        let parsers = reads.split(&mut stmts);
        if stmts.is_empty() {
            return R::parse(parsers, &mut std::iter::empty());
        }
        let rows = self.db.query_many(stmts).await?;
        R::parse(parsers, &mut rows.into_iter())
    }
}
