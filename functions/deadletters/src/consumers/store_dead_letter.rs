//! store-dead-letter: the Triggers' dead-letter sink. Keeps each event the
//! broker gave up on in PostgreSQL, with Knative's reason, once per event and
//! subscriber however often it arrives.

use base64::Engine;
use serde_json::{Map, Value, json};
use shared::auth::Access;
use shared::cloudevent::{ANY_TYPE, Incoming};
use shared::{Ctx, Function, Result, Spec};
use uuid::Uuid;

pub const SPEC: Spec = Spec::new("store-dead-letter", crate::SOURCE, Access::Broker).accepts(&[ANY_TYPE]);

pub(crate) static STORED: shared::metrics::Counters =
    shared::metrics::counters("dead_letters", "Events the broker gave up on, stored for replay, by type");

/// The extensions Knative adds to a dead-lettered event.
const ERROR_DEST: &str = "knativeerrordest";
const ERROR_CODE: &str = "knativeerrorcode";
const ERROR_DATA: &str = "knativeerrordata";

pub fn function() -> Function {
    Function::consumer(SPEC, store_dead_letter).with_metrics(&[&STORED])
}

/// The `type` label of a dead letter: one of the system's event types, or
/// `other`, so a sender of random types cannot grow the process's series.
fn type_label(ty: &str) -> &str {
    if domain::events::ALL.contains(&ty) { ty } else { "other" }
}

/// Any data is kept as it came: the input is not read as a type.
pub async fn store_dead_letter(ctx: Ctx, event: Incoming, _data: serde_json::Value) -> Result<()> {
    let dest = event.extensions.get(ERROR_DEST).cloned().unwrap_or_default();
    let code = event.extensions.get(ERROR_CODE).and_then(|c| c.parse::<i32>().ok());
    let data = event.extensions.get(ERROR_DATA).map(|d| error_data(d));
    let stored = original(&event);
    let mut tx = ctx.db().begin().await?;
    let first = sqlx::query_scalar::<_, bool>(
        "INSERT INTO dead_letters (id, event_source, event_id, event_type, error_dest, error_code, error_data, event)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (event_source, event_id, error_dest) DO UPDATE
             SET deliveries = dead_letters.deliveries + 1, error_code = EXCLUDED.error_code,
                 error_data = EXCLUDED.error_data, status = 'pending', received_at = now()
         RETURNING xmax = 0",
    )
    .bind(Uuid::now_v7())
    .bind(&event.source)
    .bind(&event.id)
    .bind(&event.ty)
    .bind(&dest)
    .bind(code)
    .bind(&data)
    .bind(&stored)
    .fetch_one(tx.exec())
    .await?;
    tx.commit().await?;
    STORED.get_or_create(&shared::metrics::labels(&[("type", type_label(&event.ty))])).inc();
    tracing::warn!(
        event_id = %event.id, event_source = %event.source, event_type = %event.ty, dest, code,
        first, "dead letter stored"
    );
    Ok(())
}

/// `knativeerrordata` is the subscriber's answer in base64: kept as text
/// when it is text, as it came otherwise.
fn error_data(raw: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| raw.to_owned())
}

/// The event as its producer sent it, structured mode: the error extensions
/// are the broker's, not the event's, and a replay must not carry them.
pub fn original(event: &Incoming) -> Value {
    let mut out = Map::new();
    out.insert("specversion".into(), json!("1.0"));
    out.insert("id".into(), json!(event.id));
    out.insert("source".into(), json!(event.source));
    out.insert("type".into(), json!(event.ty));
    if let Some(subject) = &event.subject {
        out.insert("subject".into(), json!(subject));
    }
    if let Some(time) = &event.time {
        out.insert("time".into(), json!(time));
    }
    for (name, value) in &event.extensions {
        if ![ERROR_DEST, ERROR_CODE, ERROR_DATA].contains(&name.as_str()) {
            out.insert(name.clone(), json!(value));
        }
    }
    out.insert("datacontenttype".into(), json!("application/json"));
    let data: Value = if event.data.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&event.data).unwrap_or_else(|_| json!(String::from_utf8_lossy(&event.data)))
    };
    out.insert("data".into(), data);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_type_the_system_does_not_emit_is_labelled_other() {
        assert_eq!(super::type_label(domain::events::BOOKING_CREATED), "skybook.booking.created");
        assert_eq!(super::type_label("com.example.random.7f3a"), "other");
    }
}
