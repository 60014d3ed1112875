//! A connection or transaction whose statements are safe behind a
//! transaction-mode pooler: there, every statement is sent unnamed, so no
//! prepared statement is left on a server connection another client gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgConnection, Postgres};
use tracing::{Instrument, Span};

use super::pool::{BROKEN, IN_TRANSACTION, Pooled};
use crate::telemetry::trace_context;

/// A pooled connection, or a transaction, from [`super::Database`].
pub struct Conn {
    pub(super) pooled: Pooled,
    pub(super) unnamed: bool,
    pub(super) server: Arc<Server>,
}

/// The database server and database statements go to, as their spans name
/// them (`server.address`, `server.port`, `db.namespace`).
#[derive(Debug)]
pub(super) struct Server {
    pub(super) address: String,
    pub(super) port: u16,
    pub(super) database: String,
}

impl Conn {
    /// What runs a statement: `.fetch_one(conn.exec())`.
    pub fn exec(&mut self) -> Exec<'_> {
        let (conn, state) = self.pooled.parts();
        Exec { conn, state, unnamed: self.unnamed, server: &self.server }
    }

    /// Opens a transaction with `begin` (a simple query: `BEGIN` and what
    /// goes with it); rolled back if the connection is dropped before
    /// [`Conn::commit`].
    pub(super) async fn begin(&mut self, begin: &str) -> Result<(), sqlx::Error> {
        self.pooled.state.fetch_or(IN_TRANSACTION, Ordering::AcqRel);
        self.exec().execute(begin).await.map(drop)
    }

    /// Commits, if this is a transaction; a plain connection has nothing to.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if self.pooled.state.load(Ordering::Acquire) & IN_TRANSACTION == 0 {
            return Ok(());
        }
        self.exec().execute("COMMIT").await?;
        self.pooled.state.fetch_and(!IN_TRANSACTION, Ordering::AcqRel);
        Ok(())
    }
}

/// An executor over one connection, for one statement at a time.
#[derive(Debug)]
pub struct Exec<'c> {
    conn: &'c mut PgConnection,
    /// The connection's state in its pool, where a statement that failed on
    /// the wire marks it broken.
    state: &'c AtomicU8,
    unnamed: bool,
    server: &'c Server,
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
        let span = statement_span(query.sql(), self.server);
        let stream = self.conn.fetch_many(Statement { query, unnamed: self.unnamed });
        Box::pin(Traced { stream, span, state: self.state })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let span = statement_span(query.sql(), self.server);
        let state = self.state;
        let row = self.conn.fetch_optional(Statement { query, unnamed: self.unnamed });
        Box::pin(
            async move {
                let row = row.await;
                if let Err(e) = &row {
                    failed(state, e);
                }
                row
            }
            .instrument(span),
        )
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

/// Marks the connection broken if `e` failed it on the wire, not in the
/// server (whose errors leave it ready for the next statement).
fn failed(state: &AtomicU8, e: &sqlx::Error) {
    let on_the_wire = matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
    );
    if on_the_wire {
        state.fetch_or(BROKEN, Ordering::AcqRel);
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

/// A client span per statement when spans are exported (none otherwise),
/// named and described as the database semantic conventions say.
fn statement_span(sql: &str, server: &Server) -> Span {
    if !crate::telemetry::exporting() {
        return Span::none();
    }
    let (operation, target) = summary(sql);
    let span = tracing::info_span!("statement", otel.name = tracing::field::Empty, otel.kind = "client");
    trace_context::set_name(&span, || match target {
        Some(target) => format!("{operation} {target}"),
        None => operation.clone(),
    });
    trace_context::set_attributes(&span, || {
        vec![
            opentelemetry::KeyValue::new("db.system.name", "postgresql"),
            opentelemetry::KeyValue::new("db.namespace", server.database.clone()),
            opentelemetry::KeyValue::new("db.operation.name", operation.clone()),
            opentelemetry::KeyValue::new("db.query.text", sql.to_owned()),
            opentelemetry::KeyValue::new("server.address", server.address.clone()),
            opentelemetry::KeyValue::new("server.port", i64::from(server.port)),
        ]
    });
    span
}

/// A statement's operation and the table it works on, as far as its first
/// words say: `INSERT INTO outbox …` is ("INSERT", Some("outbox")).
fn summary(sql: &str) -> (String, Option<&str>) {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let operation = words.first().map_or_else(String::new, |w| w.to_ascii_uppercase());
    // The word after the first `keyword` that names a table (not `now()`
    // in `extract(epoch FROM now())`, say).
    let table = |word: &&str| word.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    let after = |keyword: &str| {
        words
            .windows(2)
            .find(|pair| pair[0].eq_ignore_ascii_case(keyword) && table(&pair[1]))
            .map(|pair| pair[1])
    };
    let target = match operation.as_str() {
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1).copied().filter(table),
        "DELETE" | "SELECT" => after("FROM"),
        _ => None,
    };
    (operation, target)
}

/// A stream of rows polled inside its statement's span, which marks its
/// connection broken if it fails on the wire.
struct Traced<'e, T> {
    stream: BoxStream<'e, T>,
    span: Span,
    state: &'e AtomicU8,
}

impl<R> futures_core::Stream for Traced<'_, Result<R, sqlx::Error>> {
    type Item = Result<R, sqlx::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let next = this.stream.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(Some(Err(e))) = &next {
            failed(this.state, e);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_statement_is_summed_up_by_its_operation_and_table() {
        assert_eq!(super::summary("INSERT INTO outbox (a) VALUES ($1)"), ("INSERT".into(), Some("outbox")));
        assert_eq!(super::summary("update flights SET x = 1"), ("UPDATE".into(), Some("flights")));
        assert_eq!(super::summary("SELECT a FROM bookings WHERE"), ("SELECT".into(), Some("bookings")));
        assert_eq!(super::summary("WITH x AS (SELECT 1) SELECT"), ("WITH".into(), None));
        assert_eq!(super::summary("SELECT 1"), ("SELECT".into(), None));
        let backlog = "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox WHERE";
        assert_eq!(super::summary(backlog), ("SELECT".into(), Some("outbox")));
    }
}
