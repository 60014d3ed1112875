//! The fuzzed entry points: each reads raw bytes as they would arrive from
//! outside and asserts what must hold for any input. A bad input is refused
//! with a client error, a good one keeps every rule, and nothing panics.
//!
//! libFuzzer runs them (`fuzz_targets/`, `cargo xtask fuzz`); `tests/replay.rs`
//! replays the committed seeds and corpora through them on every test run.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use shared::Error;
use shared::cloudevent::Incoming;

/// A fuzz target: it panics when an input breaks a rule.
pub type Target = fn(&[u8]);

/// Every target by name: the name of its corpus folder and of its binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("cloudevent", cloudevent),
    ("broker_event", broker_event),
    ("create_booking", create_booking),
    ("create_destination", create_destination),
    ("update_destination", update_destination),
    ("create_flight", create_flight),
    ("page_cursor", page_cursor),
    ("tool_call", tool_call),
    ("groq_reply", groq_reply),
];

/// A request to create-booking in any content mode: the CloudEvents reading
/// of `shared`, then the input's own.
pub fn cloudevent(data: &[u8]) {
    let (headers, body) = http_message(data);
    let accepts = bookings::commands::create_booking::SPEC.accepts;
    let incoming = match Incoming::parse(&headers, body, accepts) {
        Ok(incoming) => incoming,
        Err(e) => return refused(&e),
    };
    assert!(accepts.contains(&incoming.ty.as_str()), "accepted a foreign type {}", incoming.ty);
    if headers.contains_key("ce-specversion") || incoming.source != "/skybook/http" {
        // A CloudEvent is deduplicated by source and id, whatever its mode,
        // length-prefixed so no two pairs give one key.
        let (source, id) = (&incoming.source, &incoming.id);
        assert_eq!(incoming.idempotency_key, Some(format!("ce:{}:{source}{id}", source.len())));
    }
    check_booking(&incoming);
}

/// An event posted to the broker's ingress, then through RabbitMQ and out
/// to a subscriber: whatever the ingress accepts arrives unchanged.
pub fn broker_event(data: &[u8]) {
    use broker::event;

    let (headers, body) = http_message(data);
    let Ok(accepted) = event::from_http(&headers, body) else { return };
    let (payload, _) = event::to_amqp(&accepted).expect("an accepted event is always encodable");
    let queued = event::from_amqp(&payload).expect("the broker reads back what it queued");
    assert_same(&queued, &accepted, "in the queue");
    let (headers, body) = event::to_http(&queued).expect("an accepted event can always be delivered");
    let delivered = event::from_http(&headers, Bytes::from(body)).expect("a delivered event reads as one");
    assert_same(&delivered, &accepted, "on delivery");
}

/// create-booking's JSON input, then its rules.
pub fn create_booking(data: &[u8]) {
    check_booking(&plain_json(data, bookings::commands::create_booking::SPEC.accepts));
}

fn check_booking(incoming: &Incoming) {
    use bookings::commands::create_booking::{CreateBooking, NewBooking};
    use bookings::model::{PassengerAge, PassengerName};

    let Some(input) = decoded::<CreateBooking>(incoming) else { return };
    let Some(booking) = validated(NewBooking::for_caller(&shared::auth::Caller::unauthenticated(), input))
    else {
        return;
    };
    let name = booking.passenger_name.as_str();
    assert!(!name.is_empty() && name.trim() == name, "untrimmed name {name:?}");
    assert!(name.chars().count() <= PassengerName::MAX_CHARS);
    assert!((0..=PassengerAge::MAX).contains(&i64::from(booking.passenger_age.get())));
}

/// create-destination's JSON input, then its rules.
pub fn create_destination(data: &[u8]) {
    use destinations::commands::create_destination::{CreateDestination, NewDestination, SPEC};

    let Some(input) = decoded::<CreateDestination>(&plain_json(data, SPEC.accepts)) else { return };
    let Some(destination) = validated(NewDestination::try_from(input)) else { return };
    check_destination_name(destination.name.as_str());
    check_money(destination.tax_amount);
}

/// update-destination's JSON input, then its rules.
pub fn update_destination(data: &[u8]) {
    use destinations::commands::update_destination::{DestinationChanges, SPEC, UpdateDestination};

    let Some(input) = decoded::<UpdateDestination>(&plain_json(data, SPEC.accepts)) else { return };
    let Some(changes) = validated(DestinationChanges::try_from(input)) else { return };
    assert!(changes.count() > 0, "an update that changes nothing was accepted");
    if let Some(name) = changes.name() {
        check_destination_name(name.as_str());
    }
    if let Some(tax) = changes.tax_amount() {
        check_money(tax);
    }
}

fn check_destination_name(name: &str) {
    use destinations::model::DestinationName;
    assert!(!name.is_empty() && name.trim() == name, "untrimmed name {name:?}");
    assert!(name.chars().count() <= DestinationName::MAX_CHARS);
}

/// create-flight's JSON input, then its rules.
pub fn create_flight(data: &[u8]) {
    use flights::commands::create_flight::{CreateFlight, MAX_CAPACITY, NewFlight, SPEC};

    let Some(input) = decoded::<CreateFlight>(&plain_json(data, SPEC.accepts)) else { return };
    let Some(flight) = validated(NewFlight::try_from(input)) else { return };
    let number = flight.flight_number();
    assert!((2..=8).contains(&number.len()), "flight number {number:?}");
    assert!(number.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "flight number {number:?}");
    assert!(!flight.base_price().is_zero());
    check_money(flight.base_price());
    assert!((1..=MAX_CAPACITY).contains(&i64::from(flight.capacity())));
}

/// A list query's cursor: any text is read or refused, and a cursor this
/// code writes reads back as the position it was written from.
pub fn page_cursor(data: &[u8]) {
    use shared::page::{parse_time_cursor, time_cursor};

    let text = String::from_utf8_lossy(data);
    match parse_time_cursor(&text) {
        Err(e) => refused(&e),
        Ok((time, id)) => {
            let written = time_cursor(time, id);
            let (again, same_id) = parse_time_cursor(&written).expect("a written cursor reads back");
            assert_eq!(same_id, id);
            // Cursors keep microseconds, the precision PostgreSQL stores.
            assert_eq!(again.timestamp_micros(), time.timestamp_micros());
        }
    }
}

/// A tool call as the model writes it: the tool's name, a newline, then its
/// JSON arguments. Whatever the model sends, what runs is bounded.
pub fn tool_call(data: &[u8]) {
    use ai::tools::{MAX_FLIGHTS, ToolRequest};

    let text = String::from_utf8_lossy(data);
    let (name, arguments) = text.split_once('\n').unwrap_or((&text, ""));
    match ToolRequest::parse(name, arguments) {
        Err(message) => assert!(!message.is_empty() && message.len() < 4096, "message {message:?}"),
        Ok(ToolRequest::MarketData(filter)) => {
            assert!((1..=MAX_FLIGHTS).contains(&filter.limit()));
            if let Some(pattern) = filter.destination_pattern() {
                check_escaped(pattern);
            }
        }
        Ok(ToolRequest::Demand(destination)) => {
            if let Some(name) = destination {
                assert_eq!(name.trim(), name);
            }
        }
    }
}

/// An ILIKE pattern that matches its text literally: every `%`, `_` and
/// `\` is escaped, and at most 120 characters of text.
fn check_escaped(pattern: &str) {
    let mut chars = pattern.chars();
    let mut text_chars = 0;
    while let Some(c) = chars.next() {
        text_chars += 1;
        match c {
            '\\' => assert!(matches!(chars.next(), Some('\\' | '%' | '_')), "dangling escape in {pattern:?}"),
            '%' | '_' => panic!("unescaped wildcard in {pattern:?}"),
            _ => {}
        }
    }
    assert!(text_chars <= 120, "{text_chars} characters in {pattern:?}");
}

/// A chat completion body as Groq's API returns it: read, or refused as
/// `ai_unavailable`; and every tool call in it is read or refused too.
pub fn groq_reply(data: &[u8]) {
    match ai::groq::parse_reply(data) {
        Err(e) => assert_eq!(e.code(), "ai_unavailable"),
        Ok(message) => {
            for call in &message.tool_calls {
                let line = format!("{}\n{}", call.function.name, call.function.arguments);
                tool_call(line.as_bytes());
            }
        }
    }
}

/// Reads `data` as an HTTP message: header lines up to the first empty
/// line, then the body. Lines that no HTTP server would pass on are dropped.
pub fn http_message(data: &[u8]) -> (HeaderMap, Bytes) {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(line[colon + 1..].trim_ascii()))
        else {
            continue;
        };
        headers.append(name, value);
    }
    (headers, Bytes::copy_from_slice(body))
}

/// A plain JSON request body, as a function reads it.
fn plain_json(data: &[u8], accepts: &[&str]) -> Incoming {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Incoming::parse(&headers, Bytes::copy_from_slice(data), accepts).expect("a JSON body is always read")
}

fn decoded<T: serde::de::DeserializeOwned>(incoming: &Incoming) -> Option<T> {
    incoming.decode().map_err(|e| refused(&e)).ok()
}

fn validated<T>(result: Result<T, Error>) -> Option<T> {
    result.map_err(|e| refused(&e)).ok()
}

/// A refusal is the client's error, with a code and a message that says why.
fn refused(e: &Error) {
    assert!(e.status().is_client_error(), "{} for a bad input: {e}", e.status());
    assert!(!e.code().is_empty() && !e.to_string().is_empty());
}

fn check_money(amount: domain::money::Money) {
    let amount = amount.amount();
    assert_eq!(amount.scale(), 2, "{amount} is not in cents");
    assert!(!amount.is_sign_negative() || amount.is_zero(), "{amount} is negative");
    assert!(amount < domain::money::Money::LIMIT);
}

/// The same attributes and the same data: the same bytes, or the same JSON
/// value when the SDK holds one side parsed and the other as bytes.
fn assert_same(got: &cloudevents::Event, sent: &cloudevents::Event, place: &str) {
    assert_eq!(attributes(got), attributes(sent), "attributes changed {place}");
    let (got, sent) = (data_bytes(got), data_bytes(sent));
    if got != sent {
        let as_json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
        assert!(as_json(&got).is_some() && as_json(&got) == as_json(&sent), "data changed {place}");
    }
}

fn attributes(event: &cloudevents::Event) -> Vec<(String, String)> {
    let mut attributes: Vec<_> =
        event.iter().map(|(name, value)| (name.to_owned(), value.to_string())).collect();
    attributes.sort();
    attributes
}

fn data_bytes(event: &cloudevents::Event) -> Vec<u8> {
    let bytes = event.data().map(broker::event::data_bytes).transpose();
    bytes.expect("a JSON value always serializes").unwrap_or_default()
}
