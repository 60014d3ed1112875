//! Skybook's functions, one list: every slice's functions as their specs
//! declare them, and what the deployment derives from those specs (who is
//! reached from outside, who gets `K_SINK`, who uses PostgreSQL, which
//! Triggers route which events). `cargo xtask manifests` writes the chart's
//! list (`helm/skybook/files/functions.json`), and from it knative/,
//! skaffold, compose, bake and each func.yaml; the local stack, the
//! benchmark and the tests read the same list.
//!
//! Adding a function is its handler, its binary and its entry in its slice's
//! `functions()`; adding a slice is one line in [`slices`].

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::cloudevent::ANY_TYPE;
use shared::{Dependency, Function, Kind};

/// Every slice (its crate's name) with its functions.
pub fn slices() -> Vec<(&'static str, Vec<Function>)> {
    vec![
        ("destinations", destinations::functions()),
        ("flights", flights::functions()),
        ("bookings", bookings::functions()),
        ("stats", stats::functions()),
        ("ai", ai::functions()),
        ("deadletters", deadletters::functions()),
        ("outbox", outbox::functions()),
        ("docs", docs::functions()),
        ("web", web::functions()),
    ]
}

/// One function of the catalogue, with the slice whose crate builds its binary.
#[derive(Clone)]
pub struct Entry {
    pub slice: &'static str,
    pub function: Function,
}

impl Entry {
    pub fn name(&self) -> &'static str {
        self.function.spec.name
    }

    /// Called from outside the cluster (queries and commands); consumers
    /// are the Broker's and the PingSources' only, so cluster-local.
    pub fn external(&self) -> bool {
        self.function.kind != Kind::Consumer
    }

    /// It sends events to the Broker, so the SinkBinding gives it `K_SINK`.
    pub fn emits_events(&self) -> bool {
        !self.function.spec.emits.is_empty()
    }

    /// It opens PostgreSQL connections (counted in the pooler's budget).
    pub fn database(&self) -> bool {
        self.function.spec.dependencies.contains(&Dependency::Postgres)
    }

    /// A PingSource ticks it.
    pub fn ticked(&self) -> bool {
        self.function.spec.accepts.contains(&shared::cloudevent::PING)
    }
}

/// Every function, slice by slice, in the order of [`slices`].
pub fn functions() -> Vec<Entry> {
    slices()
        .into_iter()
        .flat_map(|(slice, functions)| functions.into_iter().map(move |function| Entry { slice, function }))
        .collect()
}

/// One Trigger: an emitted event type to a consumer that accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// `<type without skybook., dashed>-to-<the consumer's slice>`.
    pub name: String,
    pub ty: &'static str,
    /// The ce-source of the function that emits it: the other brokers'
    /// Triggers filter on it too.
    pub source: &'static str,
    pub subscriber: &'static str,
}

/// The event types some function sends to the Broker.
pub fn emitted(entries: &[Entry]) -> BTreeSet<&'static str> {
    entries.iter().flat_map(|e| e.function.spec.emits.iter().copied()).filter(|ty| *ty != ANY_TYPE).collect()
}

/// Every consumer's accepted types crossed with the emitted ones.
pub fn triggers(entries: &[Entry]) -> Vec<Trigger> {
    let emitted = emitted(entries);
    let mut triggers = Vec::new();
    for consumer in entries.iter().filter(|e| e.function.kind == Kind::Consumer) {
        for ty in consumer.function.spec.accepts.iter().filter(|ty| emitted.contains(*ty)) {
            let Some(producer) = entries.iter().find(|e| e.function.spec.emits.contains(ty)) else {
                continue;
            };
            let short = ty.strip_prefix("skybook.").unwrap_or(ty).replace('.', "-");
            triggers.push(Trigger {
                name: format!("{short}-to-{}", consumer.slice),
                ty,
                source: producer.function.spec.source,
                subscriber: consumer.name(),
            });
        }
    }
    triggers
}

/// What is wrong with the catalogue: a name twice, a Trigger name twice, a
/// type two functions emit, a query or command without a reply type, any
/// other function with one.
pub fn problems(entries: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for entry in entries {
        if !names.insert(entry.name()) {
            problems.push(format!("{} is in the catalogue twice", entry.name()));
        }
        let replies = entry.function.spec.replies.is_some();
        if replies != matches!(entry.function.kind, Kind::Query | Kind::Command) {
            problems.push(format!(
                "{}: a query or a command names its reply type, no other function one",
                entry.name()
            ));
        }
    }
    for ty in emitted(entries) {
        let producers: Vec<_> =
            entries.iter().filter(|e| e.function.spec.emits.contains(&ty)).map(Entry::name).collect();
        if producers.len() > 1 {
            problems.push(format!("{ty} is emitted by {producers:?}: one producer per type"));
        }
    }
    let mut trigger_names = BTreeSet::new();
    for trigger in triggers(entries) {
        if !trigger_names.insert(trigger.name.clone()) {
            problems.push(format!("two Triggers would be named {}", trigger.name));
        }
    }
    problems
}

/// The chart's list (`files/functions.json`): each function with what the
/// templates need, and the Triggers.
pub fn chart(entries: &[Entry]) -> Value {
    let functions: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "name": e.name(),
                "slice": e.slice,
                "kind": format!("{:?}", e.function.kind).to_lowercase(),
                "visibility": if e.external() { "external" } else { "cluster-local" },
                "emitsEvents": e.emits_events(),
                "database": e.database(),
                "ticked": e.ticked(),
            })
        })
        .collect();
    let triggers: Vec<Value> = triggers(entries)
        .iter()
        .map(|t| json!({"name": t.name, "type": t.ty, "source": t.source, "subscriber": t.subscriber}))
        .collect();
    json!({"functions": functions, "triggers": triggers})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_no_problems() {
        assert_eq!(problems(&functions()), Vec::<String>::new());
    }

    #[test]
    fn each_emitted_event_reaches_the_stats_and_the_flights_read_model() {
        let triggers = triggers(&functions());
        let to = |ty: &str| {
            let mut to = triggers.iter().filter(|t| t.ty == ty).map(|t| t.subscriber).collect::<Vec<_>>();
            to.sort();
            to
        };
        assert_eq!(to(domain::events::BOOKING_CREATED), ["project-flights", "record-booking-stats"]);
        assert_eq!(to(domain::events::BOOKING_CANCELLED), ["project-flights", "record-booking-stats"]);
        assert_eq!(to(domain::events::DESTINATION_UPDATED), ["project-flights", "record-destination-name"]);
        assert_eq!(to(domain::events::FLIGHT_CREATED), ["project-flights"]);
        assert_eq!(triggers.len(), 7, "{triggers:?}");
    }
}
