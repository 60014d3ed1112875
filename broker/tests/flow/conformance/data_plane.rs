//! Knative Eventing's data plane (`specs/eventing/data-plane.md`), and the
//! Trigger filter of its control plane (`specs/eventing/control-plane.md`).

use serde_json::json;

use super::*;

/// "the sender MUST initiate delivery of the event to the recipient using
/// the HTTP POST verb"; "All senders and recipients MUST support the
/// CloudEvents 1.0 protocol and the binary and structured content modes".
#[tokio::test]
async fn the_broker_takes_both_modes_and_delivers_by_post() {
    let rig = Rig::start().await;
    assert_eq!(rig.post(&binary(&[]), &booking()).await.status, 202);
    let event = json!({"specversion": "1.0", "id": "st", "source": "/c", "type": CREATED, "data": {}});
    let (headers, body) = structured(&event);
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    eventually(10, "both deliveries", || async { rig.stats.received().len() == 2 }).await;
    assert!(rig.stats.received().iter().all(|e| e.method == http::Method::POST));
}

/// "Senders MAY probe the recipient with an HTTP OPTIONS request; if
/// implemented, the recipient MUST indicate support for the POST verb using
/// the `Allow` header." And RFC 7231: a 405 "MUST generate an Allow header".
#[tokio::test]
async fn options_and_405_name_post_in_allow() {
    let rig = Rig::start().await;
    let (app, _redis) = consumer().await;
    let base = app.post().build().unwrap().url().to_string();
    let client = reqwest::Client::new();
    for url in [rig.broker.ingress.as_str(), base.as_str()] {
        let options = client.request(http::Method::OPTIONS, url).send().await.unwrap();
        let allow = options.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(allow.contains("POST"), "{url}: OPTIONS answered Allow: {allow:?}");
        let put = client.put(url).send().await.unwrap();
        assert_eq!(put.status().as_u16(), 405, "{url}");
        let allow = put.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(allow.contains("POST"), "{url}: 405 with Allow: {allow:?}");
    }
}

/// "Event recipients MUST use the HTTP response code to indicate acceptance
/// of an event", and the table: 400, 401, 403 and other 4xx are not retried;
/// 404, 408, 409, 429 and 5xx are; "Brokers ... MUST implement retries".
#[tokio::test]
async fn the_response_code_decides_retry_as_the_table_says() {
    let rig = Rig::start().await;
    for (n, (code, retried)) in [
        (400, false),
        (401, false),
        (403, false),
        (413, false),
        (404, true),
        (408, true),
        (409, true),
        (429, true),
        (500, true),
        (503, true),
    ]
    .into_iter()
    .enumerate()
    {
        rig.stats.answer(code);
        let before = rig.stats.attempts();
        let id = format!("code-{code}");
        assert_eq!(rig.post(&binary(&[("ce-id", id.as_bytes())]), &booking()).await.status, 202);
        eventually(10, "the dead letter", || async { rig.dead.received().len() == n + 1 }).await;
        let attempts = rig.stats.attempts() - before;
        assert_eq!(
            attempts,
            if retried { 2 } else { 1 },
            "{code}: one retry by the Trigger's policy, or none"
        );
        assert_eq!(rig.dead.received()[n].header("ce-knativeerrorcode"), Some(code.to_string().as_str()));
    }
}

/// "Recipients MUST accept duplicate delivery of events"; "If duplicate
/// detection is implemented, then ... event recipients MUST use the `source`
/// and `id` attributes to identify duplicate events." The stats consumer
/// tells them by `sequence`, which stands for them: the producer numbers
/// each source and id once, and its signature binds the number to them.
#[tokio::test]
async fn duplicates_are_accepted_and_told_by_source_and_id() {
    let (app, redis) = consumer().await;
    let first = binary(&[("ce-id", b"dup")]);
    assert_eq!(to_function(&app, &first, &booking()).await, 202);
    assert_eq!(to_function(&app, &first, &booking()).await, 202, "a duplicate is accepted");
    assert_eq!(counted(&redis).await, 1, "and applied once");
    let other_source =
        binary(&[("ce-id", b"dup"), ("ce-source", b"/elsewhere"), ("ce-sequence", b"0000000000000000002")]);
    assert_eq!(to_function(&app, &other_source, &booking()).await, 202);
    assert_eq!(
        counted(&redis).await,
        2,
        "the same id from another source is another event, with its own number"
    );
}

/// "Brokers and Channels MUST indicate support for replies using the
/// `Prefer: reply` header when sending to the `spec.subscriber` address."
#[tokio::test]
async fn the_broker_says_it_takes_replies() {
    let rig = Rig::start().await;
    assert_eq!(rig.post(&binary(&[]), &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("prefer"), Some("reply"));
}

/// "Responses with a `202` response code MUST NOT be processed as reply
/// events"; a `200` with an event is a reply, routed back in.
#[tokio::test]
async fn only_a_200_carries_a_reply() {
    let rig = Rig::start().await;
    rig.stats.reply_with(REPLIED);
    rig.stats.answer(202);
    assert_eq!(rig.post(&binary(&[("ce-id", b"r-202")]), &booking()).await.status, 202);
    // One at a time: once a second booking is delivered, the first one's
    // answer has been dealt with.
    assert_eq!(rig.post(&binary(&[("ce-id", b"r-202-next")]), &booking()).await.status, 202);
    eventually(10, "both bookings", || async { rig.stats.received().len() == 2 }).await;
    // In order on the replies Trigger: a routed reply would come before this.
    let marker = binary(&[("ce-id", b"marker"), ("ce-type", REPLIED.as_bytes())]);
    assert_eq!(rig.post(&marker, b"{}").await.status, 202);
    eventually(10, "the marker", || async { !rig.replies.received().is_empty() }).await;
    assert_eq!(rig.replies.received()[0].header("ce-id"), Some("marker"), "the 202's event was routed");

    rig.stats.answer(200);
    assert_eq!(rig.post(&binary(&[("ce-id", b"r-200")]), &booking()).await.status, 202);
    eventually(10, "the reply to the 200", || async { rig.replies.received().len() == 2 }).await;
    assert_eq!(rig.replies.received()[1].header("ce-type"), Some(REPLIED));
}

/// Trigger `filter.attributes`: "For each key specified in the filter, an
/// attribute with that name MUST be present in the event to match. If the
/// value corresponding to the key is non-empty, the value MUST be an exact
/// (case-sensitive) match to attribute value in the event; an empty string
/// MUST match all attribute values."
#[tokio::test]
async fn a_filter_matches_exactly_and_an_empty_value_matches_any_present_value() {
    let rig = Rig::start().await;
    for (id, ty, team) in [
        ("with-team", &b"skybook.conformance"[..], Some(&b"reservas"[..])),
        ("other-team", b"skybook.conformance", Some(b"x")),
        ("no-team", b"skybook.conformance", None),
        ("other-case", b"Skybook.Conformance", Some(b"reservas")),
    ] {
        let mut headers = binary(&[("ce-id", id.as_bytes()), ("ce-type", ty)]);
        if let Some(team) = team {
            headers.push(("ce-team", team));
        }
        assert_eq!(rig.post(&headers, b"{}").await.status, 202);
    }
    // One at a time, in order: when this one has arrived, the others have been decided.
    let last = binary(&[("ce-id", b"last"), ("ce-type", b"skybook.conformance"), ("ce-team", b"z")]);
    assert_eq!(rig.post(&last, b"{}").await.status, 202);
    eventually(10, "the last event", || async {
        rig.any.received().iter().any(|e| e.header("ce-id") == Some("last"))
    })
    .await;
    let mut ids: Vec<String> =
        rig.any.received().iter().map(|e| e.header("ce-id").unwrap_or_default().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, ["last", "other-team", "with-team"]);
    assert!(rig.stats.received().is_empty(), "no booking Trigger matched any of them");
}

/// Trigger `filters` (Knative's new trigger filters, the CloudEvents
/// Subscriptions API's dialects): "An array of filter expressions that
/// evaluates to true or false. If any filter expression in the array
/// evaluates to false, the event will not be sent to the subscriber." And
/// `exact`: "CloudEvent attribute String value must exactly match the
/// specified String value. Matching is case-sensitive." (`prefix`, `suffix`,
/// `all`, `any` and `not` likewise; CESQL is refused when the manifests are
/// read: see `broker::filter`.)
#[tokio::test]
async fn filters_deliver_only_what_every_expression_accepts() {
    let rig = Rig::start().await;
    for (id, ty, subject, source) in [
        ("lima", "skybook.filters.booked", Some("lima"), "/elsewhere"),
        ("internal", "skybook.filters.booked.internal", Some("lima"), "/elsewhere"),
        ("cusco-bookings", "skybook.filters.booked", Some("cusco"), "/skybook/bookings"),
        ("cusco-elsewhere", "skybook.filters.booked", Some("cusco"), "/elsewhere"),
        ("other-type", "skybook.other", Some("lima"), "/elsewhere"),
        ("no-subject", "skybook.filters.booked", None, "/elsewhere"),
        ("other-case", "skybook.filters.booked", Some("Lima"), "/elsewhere"),
        ("legacy-filter", "never.sent", Some("lima"), "/elsewhere"),
    ] {
        let mut headers =
            binary(&[("ce-id", id.as_bytes()), ("ce-type", ty.as_bytes()), ("ce-source", source.as_bytes())]);
        if let Some(subject) = subject {
            headers.push(("ce-subject", subject.as_bytes()));
        }
        assert_eq!(rig.post(&headers, b"{}").await.status, 202, "{id}");
    }
    // One at a time, in order: when this one has arrived, the others have been decided.
    let last = binary(&[("ce-id", b"last"), ("ce-type", b"skybook.filters.last"), ("ce-subject", b"lima")]);
    assert_eq!(rig.post(&last, b"{}").await.status, 202);
    eventually(10, "the last event", || async {
        rig.filtered.received().iter().any(|e| e.header("ce-id") == Some("last"))
    })
    .await;
    let ids: Vec<String> =
        rig.filtered.received().iter().map(|e| e.header("ce-id").unwrap_or_default().to_owned()).collect();
    assert_eq!(ids, ["lima", "cusco-bookings", "last"]);
}
