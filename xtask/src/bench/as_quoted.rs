//! The baseline for a booking the read model quotes: create-booking's own
//! statement as a pgbench script, its parameters the values the function
//! wrote in the benchmark's run. Nothing is copied by hand, so the baseline
//! cannot drift from what the function sends; pgbench binds each value as a
//! parameter, as the function's driver does, so PostgreSQL parses the same
//! JSON, numbers and arrays on both sides.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;

use super::{Bench, sql_value};

/// What pgbench sends for one of the statement's parameters.
enum Param {
    /// A value that is the same in every booking here: a pgbench variable
    /// (bound as a parameter, typed as the function's driver types it).
    Bound(&'static str, &'static str),
    /// A value that differs per booking, as the function's does: computed
    /// in the statement from pgbench's random flight and key.
    Varying(&'static str),
}
use Param::{Bound, Varying};

/// Flight `:n`'s id, as `bench/seed.sql` names it.
const FLIGHT: &str = "('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid";
/// A key no other transaction has.
const KEY: &str = "'pgb-' || :client_id || '-' || :key";

/// The statement's parameters in order: the booking (`$1` to `$12`), the
/// quote it is taken at (`$13` to `$20`), then the runtime's claim and
/// events (`$21` to `$32`, [`shared::outbox::one_statement`]).
const PARAMETERS: [Param; 32] = [
    Varying(FLIGHT),
    Varying("gen_random_uuid()"),
    Bound("passenger_name", "text"),
    Bound("passenger_age", "int2"),
    Bound("has_pet", "bool"),
    Bound("base_price", "numeric"),
    Bound("discount", "numeric"),
    Bound("tax", "numeric"),
    Bound("total", "numeric"),
    Varying(KEY),
    Bound("owner", "text"),
    Varying("now()"),
    Bound("has_pet", "bool"),
    Varying("'BN' || :n"),
    Varying("to_timestamp(:departure)"),
    Bound("destination_id", "uuid"),
    Bound("destination_name", "text"),
    Bound("base_price", "numeric"),
    Bound("tax", "numeric"),
    Bound("total", "numeric"),
    Bound("function", "text"),
    Varying(KEY),
    Bound("request", "jsonb"),
    Bound("reply", "jsonb"),
    Varying("ARRAY[gen_random_uuid()]"),
    Bound("types", "text[]"),
    Bound("sources", "text[]"),
    Bound("subjects", "text[]"),
    Bound("data", "jsonb[]"),
    Bound("traceparents", "text[]"),
    Bound("tracestates", "text[]"),
    Varying("ARRAY[now()]"),
];

/// A booking the function wrote, with its claim and its event: the values
/// pgbench binds.
pub struct Written(Value);

impl Written {
    /// The newest booking with an idempotency key in the bench database,
    /// read before anything publishes or prunes its event.
    pub fn read(bench: &Bench) -> anyhow::Result<Written> {
        let row = sql_value(
            bench,
            "SELECT json_build_object(
                 'passenger_name', b.passenger_name, 'passenger_age', b.passenger_age,
                 'has_pet', b.has_pet, 'owner', b.owner,
                 -- As text: exact, where a JSON number would pass through a float.
                 'base_price', b.base_price::text, 'discount', b.discount::text,
                 'tax', b.tax::text, 'total', b.total::text,
                 'destination_id', f.destination_id, 'destination_name', d.name,
                 'function', i.function, 'request', i.request::text, 'reply', i.reply::text,
                 'types', ARRAY[o.type], 'sources', ARRAY[o.source], 'subjects', ARRAY[o.subject],
                 'data', ARRAY[o.data::text], 'traceparents', ARRAY[o.traceparent],
                 'tracestates', ARRAY[o.tracestate])
             FROM bookings b
             JOIN flights f ON f.id = b.flight_id
             JOIN destinations d ON d.id = f.destination_id
             JOIN idempotency i ON i.key = b.idempotency_key
             JOIN outbox o ON o.subject = b.id::text
             WHERE b.idempotency_key IS NOT NULL
             ORDER BY b.created_at DESC LIMIT 1",
        )?;
        if row.is_empty() {
            bail!("no booking with its claim and its event to take pgbench's parameters from");
        }
        Ok(Written(serde_json::from_str(&row).context("the written booking")?))
    }

    /// The `-D` variables for [`script`]'s bound parameters.
    pub fn defines(&self) -> anyhow::Result<Vec<String>> {
        let bound = PARAMETERS.iter().filter_map(|param| match param {
            Bound(name, _) => Some(name),
            Varying(_) => None,
        });
        bound.map(|name| Ok(format!("{name}={}", self.text(name)?))).collect()
    }

    /// The pgbench variable `name` as PostgreSQL reads its type's text.
    fn text(&self, name: &str) -> anyhow::Result<String> {
        let value = self.0.get(name).with_context(|| format!("no {name} in the written booking"))?;
        Ok(match value {
            Value::String(s) => s.clone(),
            Value::Array(items) => array_literal(items),
            other => other.to_string(),
        })
    }
}

/// A one-dimensional array in PostgreSQL's text form: `{"…",NULL}`.
fn array_literal(items: &[Value]) -> String {
    let item = |v: &Value| match v {
        Value::Null => "NULL".to_owned(),
        Value::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        other => other.to_string(),
    };
    format!("{{{}}}", items.iter().map(item).collect::<Vec<_>>().join(","))
}

/// The script, written under `target/bench/`; its values come from
/// [`Written::defines`].
pub fn script(bench: &Bench) -> anyhow::Result<PathBuf> {
    let statement = pgbench_statement(bookings::commands::create_booking::as_quoted_statement())?;
    let path = bench.root.join("target/bench/create_booking_as_quoted.pgbench.sql");
    let text = format!(
        "-- create-booking's statement for a quoted booking, written by `cargo xtask bench`\n\
         \\set n random(1, :flights)\n\
         \\set key random(1, 9000000000000000000)\n\
         \\set departure :departs + :n * 60\n\
         {statement};\n"
    );
    std::fs::create_dir_all(path.parent().context("target/bench")?)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `statement` with each `$n` replaced by what pgbench sends for it.
fn pgbench_statement(statement: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(statement.len() * 2);
    let mut rest = statement;
    let mut highest = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = rest[at + 1..at + 1 + digits].parse().context("a `$` with no parameter number")?;
        let param =
            PARAMETERS.get(n.wrapping_sub(1)).with_context(|| format!("no pgbench value for ${n}"))?;
        match param {
            Bound(name, ty) => out.push_str(&format!("(:{name}::{ty})")),
            Varying(expression) => out.push_str(&format!("({expression})")),
        }
        highest = highest.max(n);
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    if highest != PARAMETERS.len() {
        bail!("the statement has {highest} parameters; pgbench's script names {}", PARAMETERS.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::testing::{Issuer, ReadResponse, TestApp, TestDb, TestRedis, closed_url};

    /// The script books in pgbench with the values of a booking the
    /// function wrote: every parameter in its place, with its type; and so
    /// does the transaction under the lock, with the same payloads.
    #[tokio::test]
    async fn pgbench_books_with_the_functions_statement_and_what_it_wrote() {
        let (issuer, db, redis) = (Issuer::start().await, TestDb::new().await, TestRedis::new().await);
        let bench = Bench {
            root: crate::services::workspace_root(),
            database_url: db.url_via(None),
            signing_key: String::new(),
            runs: 1,
            seconds: 1,
            departs: super::super::a_month_ahead(),
        };
        bench.seed(10).unwrap();
        let mut settings = issuer.settings();
        settings.extend([
            ("database_url", db.url()),
            ("redis_url", redis.url.clone()),
            ("k_sink", closed_url().await),
        ]);
        let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = TestApp::spawn_with(bookings::commands::create_booking::function(), &settings).await;
        let booking = serde_json::json!({
            "flight_id": "00000000-0000-4000-8000-000000000003",
            "passenger_name": "Bench 1",
            "passenger_age": 30,
        });
        app.post()
            .bearer_auth(issuer.token("pia", &["passenger"]))
            .header("idempotency-key", "once")
            .json(&booking)
            .send()
            .await
            .read()
            .await
            .expect(200);

        let written = Written::read(&bench).unwrap();
        let (path, defines) = (script(&bench).unwrap(), written.defines().unwrap());
        let pgbench = |script: &std::path::Path| {
            bench.seed(10).unwrap();
            super::super::booking::pgbench(&bench, script, &defines, 2, 10).unwrap()
        };
        // Each checks that its transactions booked.
        assert!(pgbench(&path) > 0.0);
        // The transaction under the lock takes the same payloads.
        assert!(pgbench(&bench.root.join(super::super::booking::UNDER_LOCK)) > 0.0);
    }

    #[test]
    fn every_parameter_of_the_functions_statement_has_a_pgbench_value() {
        let statement = pgbench_statement(bookings::commands::create_booking::as_quoted_statement()).unwrap();
        assert!(!statement.contains('$'), "{statement}");
        assert!(statement.contains("(:request::jsonb)"), "{statement}");
        assert!(pgbench_statement("SELECT $1").is_err(), "a statement with fewer parameters");
    }

    #[test]
    fn arrays_are_written_as_postgresql_reads_them() {
        let items = [Value::String(r#"{"a": "b\c"}"#.into()), Value::Null];
        assert_eq!(array_literal(&items), r#"{"{\"a\": \"b\\c\"}",NULL}"#);
    }
}
