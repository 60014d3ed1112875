//! Sender identity: with OIDC on, record-booking-stats applies an event only
//! when it comes with a token the cluster's issuer signed, for its audience,
//! not expired, from a subject allowed to send (the Trigger's service
//! account). The tokens here are real RS256 JWTs, checked against a JWKS
//! this test serves; each that should not pass is refused and changes nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared::testing::{ReadResponse, Received, TestApp};
use stats::consumers::record_booking_stats;

use crate::helpers::World;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const TRIGGER: &str =
    "system:serviceaccount:skybook:booking-created-to-stats-oidc-eventing.knative.dev-trigger";

/// Serves the test issuer's keys; returns their URL.
async fn serve_jwks() -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let url = format!("http://{}/keys", listener.local_addr().expect("an address"));
    let handler = |_request: http::Request<hyper::body::Incoming>| async {
        let mut response = shared::http::text(http::StatusCode::OK, include_str!("fixtures/jwks.json"));
        response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
        response
    };
    tokio::spawn(shared::http::serve_http(listener, handler, std::future::pending(), Duration::ZERO));
    url
}

/// A token as Kubernetes issues a service account's, signed with `key`.
fn token(key: &[u8], sub: &str, aud: &str, iss: &str, expires_in: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock").as_secs() as i64;
    let claims =
        json!({"iss": iss, "sub": sub, "aud": [aud], "iat": now, "nbf": now, "exp": now + expires_in});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("skybook-test".into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key).expect("a PEM key"))
        .expect("a JWT")
}

const SIGNER: &[u8] = include_bytes!("fixtures/signer.pem");
const STRANGER: &[u8] = include_bytes!("fixtures/stranger.pem");

async fn deliver(consumer: &TestApp, event: &Received, token: Option<&str>) -> (u16, String) {
    let mut request = consumer.post().body(event.body.clone());
    for (name, value) in &event.headers {
        if name.as_str().starts_with("ce-") || name == "content-type" {
            request = request.header(name, value);
        }
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.read().await;
    (response.status, String::from_utf8_lossy(&response.body).into_owned())
}

#[tokio::test]
async fn only_a_valid_token_from_an_allowed_sender_gets_an_event_applied() {
    let (world, event) = World::booked("Lima", "SI1").await;
    let jwks = serve_jwks().await;
    let redis = world.redis.url.clone();
    let guarded = TestApp::spawn_with(
        record_booking_stats::function(),
        &[
            ("redis_url", redis.as_str()),
            ("oidc_enabled", "true"),
            ("oidc_issuer", ISSUER),
            ("oidc_jwks_url", jwks.as_str()),
            ("oidc_allowed_subjects", "system:serviceaccount:skybook:*-oidc-eventing.knative.dev-trigger"),
        ],
    )
    .await;

    let audience = "record-booking-stats";
    let refused = [
        ("no token", None, 401),
        ("expired", Some(token(SIGNER, TRIGGER, audience, ISSUER, -120)), 401),
        ("another audience", Some(token(SIGNER, TRIGGER, "store-dead-letter", ISSUER, 600)), 401),
        ("another issuer", Some(token(SIGNER, TRIGGER, audience, "https://elsewhere", 600)), 401),
        ("another key", Some(token(STRANGER, TRIGGER, audience, ISSUER, 600)), 401),
        ("not a JWT", Some("not.a.token".to_owned()), 401),
        (
            "another subject",
            Some(token(SIGNER, "system:serviceaccount:skybook:skybook", audience, ISSUER, 600)),
            403,
        ),
    ];
    for (what, token, status) in &refused {
        let (answered, body) = deliver(&guarded, &event, token.as_deref()).await;
        assert_eq!(answered, *status, "{what}: {body}");
        assert_eq!(world.stats().await["total_bookings"], 0, "{what}: nothing applied");
    }

    let valid = token(SIGNER, TRIGGER, audience, ISSUER, 600);
    let (answered, body) = deliver(&guarded, &event, Some(&valid)).await;
    assert_eq!(answered, 202, "a valid token from the Trigger: {body}");
    assert_eq!(world.stats().await["total_bookings"], 1);
}

#[tokio::test]
async fn without_oidc_a_consumer_takes_events_as_before() {
    let (world, event) = World::booked("Cusco", "SI2").await;
    assert_eq!(deliver(&world.record, &event, None).await.0, 202);
    assert_eq!(world.stats().await["total_bookings"], 1);
}
