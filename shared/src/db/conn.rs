//! A connection or transaction whose statements are safe behind a
//! transaction-mode pooler: there, every statement is sent unnamed, so no
//! prepared statement is left on a server connection another client gets.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgConnection, Postgres, Transaction};

/// A pooled connection, or a transaction, from [`super::Database`].
pub struct Conn {
    pub(super) inner: Inner,
    pub(super) unnamed: bool,
}

pub(super) enum Inner {
    Pooled(PoolConnection<Postgres>),
    Tx(Transaction<'static, Postgres>),
}

impl Conn {
    /// What runs a statement: `.fetch_one(conn.exec())`.
    pub fn exec(&mut self) -> Exec<'_> {
        let conn: &mut PgConnection = match &mut self.inner {
            Inner::Pooled(conn) => conn,
            Inner::Tx(tx) => tx,
        };
        Exec { conn, unnamed: self.unnamed }
    }

    /// Commits, if this is a transaction; a plain connection has nothing to.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            Inner::Tx(tx) => tx.commit().await,
            Inner::Pooled(_) => Ok(()),
        }
    }
}

/// An executor over one connection, for one statement at a time.
#[derive(Debug)]
pub struct Exec<'c> {
    conn: &'c mut PgConnection,
    unnamed: bool,
}

impl<'c> Executor<'c> for Exec<'c> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        self.conn.fetch_many(Statement { query, unnamed: self.unnamed })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        self.conn.fetch_optional(Statement { query, unnamed: self.unnamed })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn.describe(sql)
    }
}

/// A statement as given, but sent unnamed when `unnamed` says so.
struct Statement<E> {
    query: E,
    unnamed: bool,
}

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Statement<E> {
    fn sql(&self) -> &'q str {
        self.query.sql()
    }

    fn statement(&self) -> Option<&PgStatement<'q>> {
        self.query.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.query.persistent() && !self.unnamed
    }
}
