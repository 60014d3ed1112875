//! A Trigger's filter, as Knative reads it: the legacy `filter.attributes`
//! (every attribute equal; an empty value: present with any value), or the
//! `filters` list (Knative 1.11+, all must match), which takes precedence,
//! in the dialects `exact`, `prefix`, `suffix`, `all`, `any` and `not`.
//! CESQL is refused when the manifests are read, with a clear message: the
//! local broker does not evaluate it. RabbitMQ's headers binding can only
//! require exact values, so a queue is bound by those every match must have
//! ([`Filter::binding`]) and the dispatcher evaluates the whole filter.

use std::collections::BTreeMap;

use cloudevents::Event;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `filter.attributes`: each attribute equal, or present when the value is empty.
    Attributes(BTreeMap<String, String>),
    /// Each attribute present and equal (case-sensitive).
    Exact(BTreeMap<String, String>),
    /// Each attribute present and starting with the value.
    Prefix(BTreeMap<String, String>),
    /// Each attribute present and ending with the value.
    Suffix(BTreeMap<String, String>),
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
}

impl Default for Filter {
    /// No filter: every event.
    fn default() -> Self {
        Filter::All(Vec::new())
    }
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        let value = |name: &str| event.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        let each = |map: &BTreeMap<String, String>, test: fn(&str, &str) -> bool| {
            map.iter().all(|(name, wanted)| value(name).is_some_and(|v| test(&v, wanted)))
        };
        match self {
            Filter::Attributes(map) => each(map, |v, wanted| wanted.is_empty() || v == wanted),
            Filter::Exact(map) => each(map, |v, wanted| v == wanted),
            Filter::Prefix(map) => each(map, |v, wanted| v.starts_with(wanted)),
            Filter::Suffix(map) => each(map, |v, wanted| v.ends_with(wanted)),
            Filter::All(filters) => filters.iter().all(|f| f.matches(event)),
            Filter::Any(filters) => filters.iter().any(|f| f.matches(event)),
            Filter::Not(filter) => !filter.matches(event),
        }
    }

    /// The exact attribute values every matching event has: what the
    /// Trigger's queue is bound by (the dispatcher checks the rest).
    pub fn binding(&self) -> BTreeMap<String, String> {
        match self {
            Filter::Attributes(map) | Filter::Exact(map) => map
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            // Conflicting values cannot both bind: then nothing matches, and
            // the dispatcher (which sees the whole filter) drops every event.
            Filter::All(filters) => filters.iter().flat_map(Filter::binding).collect(),
            Filter::Prefix(_) | Filter::Suffix(_) | Filter::Any(_) | Filter::Not(_) => BTreeMap::new(),
        }
    }
}

/// One entry of a Trigger's `filters`, as written: exactly one dialect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    exact: Option<BTreeMap<String, String>>,
    prefix: Option<BTreeMap<String, String>>,
    suffix: Option<BTreeMap<String, String>>,
    all: Option<Vec<RawFilter>>,
    any: Option<Vec<RawFilter>>,
    not: Option<Box<RawFilter>>,
    cesql: Option<String>,
}

/// The filter of a Trigger: its `filters` when it has them, else its
/// `filter.attributes`.
pub fn of_trigger(
    attributes: Option<BTreeMap<String, String>>,
    filters: Option<Vec<RawFilter>>,
) -> Result<Filter, String> {
    match (filters, attributes) {
        (Some(filters), _) => Ok(Filter::All(filters.into_iter().map(parse).collect::<Result<_, _>>()?)),
        (None, Some(attributes)) => Ok(Filter::Attributes(attributes)),
        (None, None) => Ok(Filter::default()),
    }
}

fn parse(raw: RawFilter) -> Result<Filter, String> {
    let RawFilter { exact, prefix, suffix, all, any, not, cesql } = raw;
    let mut dialects = Vec::new();
    if let Some(expression) = cesql {
        return Err(format!(
            "a CESQL filter ({expression:?}) is not evaluated by the local broker: \
             use the exact, prefix, suffix, all, any and not dialects"
        ));
    }
    if let Some(map) = exact {
        dialects.push(Filter::Exact(map));
    }
    if let Some(map) = prefix {
        dialects.push(Filter::Prefix(map));
    }
    if let Some(map) = suffix {
        dialects.push(Filter::Suffix(map));
    }
    if let Some(list) = all {
        dialects.push(Filter::All(list.into_iter().map(parse).collect::<Result<_, _>>()?));
    }
    if let Some(list) = any {
        dialects.push(Filter::Any(list.into_iter().map(parse).collect::<Result<_, _>>()?));
    }
    if let Some(filter) = not {
        dialects.push(Filter::Not(Box::new(parse(*filter)?)));
    }
    match <[Filter; 1]>::try_from(dialects) {
        Ok([filter]) => Ok(filter),
        Err(found) if found.is_empty() => {
            Err("a filter names no dialect (exact, prefix, suffix, all, any, not)".into())
        }
        Err(_) => Err("a filter names more than one dialect: give each its own entry (or use all)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(ty: &str, subject: Option<&str>) -> Event {
        let mut builder = EventBuilderV10::new().id("1").source("/skybook/bookings").ty(ty);
        if let Some(subject) = subject {
            builder = builder.subject(subject);
        }
        builder.build().expect("an event")
    }

    fn filters(yaml: &str) -> Result<Filter, String> {
        let raw: Vec<RawFilter> = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
        of_trigger(None, Some(raw))
    }

    #[test]
    fn each_dialect_matches_as_knative_says() {
        let filter = filters(
            "- prefix: {type: skybook.booking.}\n\
             - not: {suffix: {type: .cancelled}}\n\
             - any: [{exact: {subject: a}}, {exact: {subject: b}}]\n",
        )
        .expect("a filter");
        assert!(filter.matches(&event("skybook.booking.created", Some("a"))));
        assert!(filter.matches(&event("skybook.booking.created", Some("b"))));
        assert!(!filter.matches(&event("skybook.booking.created", Some("c"))), "any: neither subject");
        assert!(
            !filter.matches(&event("skybook.booking.created", None)),
            "exact: the attribute must be there"
        );
        assert!(!filter.matches(&event("skybook.booking.cancelled", Some("a"))), "not: a suffix");
        assert!(!filter.matches(&event("skybook.flight.created", Some("a"))), "prefix");
        assert!(filter.matches(&event("skybook.booking.created", Some("a"))));
        assert_eq!(filter.binding(), BTreeMap::new(), "nothing exact to bind by");
    }

    #[test]
    fn filters_take_precedence_over_attributes_and_none_matches_all() {
        let attributes = BTreeMap::from([("type".to_owned(), "x".to_owned())]);
        let raw: Vec<RawFilter> = serde_norway::from_str("- exact: {type: y}").expect("yaml");
        let filter = of_trigger(Some(attributes), Some(raw)).expect("a filter");
        assert!(filter.matches(&event("y", None)) && !filter.matches(&event("x", None)));
        assert!(of_trigger(None, None).expect("no filter").matches(&event("anything", None)));
        assert!(filters("[]").expect("an empty list").matches(&event("anything", None)));
    }

    #[test]
    fn the_queue_is_bound_by_what_every_match_has() {
        let filter =
            filters("- exact: {type: t}\n- all: [{exact: {source: s}}, {prefix: {subject: x}}]").expect("f");
        let binding: Vec<(String, String)> = filter.binding().into_iter().collect();
        assert_eq!(binding, [("source".into(), "s".into()), ("type".into(), "t".into())]);
    }

    #[test]
    fn cesql_and_ambiguous_entries_are_refused_clearly() {
        let error = filters("- cesql: \"type = 'x'\"").expect_err("CESQL is not evaluated");
        assert!(error.contains("CESQL") && error.contains("exact, prefix"), "{error}");
        let error = filters("- exact: {type: a}\n  prefix: {type: b}").expect_err("two dialects");
        assert!(error.contains("more than one dialect"), "{error}");
        assert!(filters("- {}").expect_err("none").contains("no dialect"));
        assert!(filters("- regex: {type: a}").is_err(), "an unknown dialect");
    }
}
