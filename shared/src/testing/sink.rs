//! A real HTTP endpoint standing in for the broker or a subscriber.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;

/// An event as a [`TestSink`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: http::Method,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("event data is JSON")
    }

    /// The event as the CloudEvents SDK reads it: proof it is a valid one.
    pub fn cloudevent(&self) -> cloudevents::Event {
        cloudevents::binding::http::to_event(&self.headers, self.body.to_vec()).expect("a valid CloudEvent")
    }
}

/// A real HTTP endpoint standing in for the broker or a subscriber: records
/// what it is sent, answers with the status the test sets (202 unless told;
/// a failing status comes with the body `sink failing`), and can answer
/// with a reply event.
pub struct TestSink {
    pub url: String,
    state: Arc<SinkState>,
}

#[derive(Default)]
struct SinkState {
    received: std::sync::Mutex<Vec<Received>>,
    attempts: std::sync::atomic::AtomicUsize,
    status: std::sync::atomic::AtomicU16,
    reply_type: std::sync::Mutex<Option<String>>,
    delay_ms: std::sync::atomic::AtomicU64,
    /// Events whose header (name, value) matches get this status instead.
    answer_for: std::sync::Mutex<Option<(String, String, u16)>>,
}

impl TestSink {
    pub async fn start() -> TestSink {
        use http_body_util::BodyExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let url = format!("http://{}/default/default", listener.local_addr().expect("sink addr"));
        let state = Arc::new(SinkState { status: 202.into(), ..Default::default() });
        let shared_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared_state.clone();
                let service =
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let delay = state.delay_ms.load(Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                            state.attempts.fetch_add(1, Ordering::SeqCst);
                            let rule = state.answer_for.lock().expect("sink lock").clone();
                            let code = match rule {
                                Some((name, value, code))
                                    if parts
                                        .headers
                                        .get(&name)
                                        .is_some_and(|v| v.as_bytes() == value.as_bytes()) =>
                                {
                                    code
                                }
                                _ => state.status.load(Ordering::SeqCst),
                            };
                            let ok = (200..300).contains(&code);
                            if ok {
                                state.received.lock().expect("sink lock").push(Received {
                                    method: parts.method,
                                    headers: parts.headers,
                                    body,
                                });
                            }
                            let reply_type = state.reply_type.lock().expect("sink lock").clone();
                            let mut response = match (ok, reply_type) {
                                (true, Some(ty)) => {
                                    let mut r = http::Response::new(http_body_util::Full::new(
                                        Bytes::from_static(b"{}"),
                                    ));
                                    let h = r.headers_mut();
                                    h.insert("ce-specversion", http::HeaderValue::from_static("1.0"));
                                    h.insert("ce-id", uuid::Uuid::new_v4().to_string().parse().expect("id"));
                                    h.insert("ce-source", http::HeaderValue::from_static("/tests/sink"));
                                    h.insert("ce-type", ty.parse().expect("type"));
                                    h.insert(
                                        "content-type",
                                        http::HeaderValue::from_static("application/json"),
                                    );
                                    r
                                }
                                (true, None) => http::Response::new(http_body_util::Full::new(Bytes::new())),
                                (false, _) => http::Response::new(http_body_util::Full::new(
                                    Bytes::from_static(b"sink failing"),
                                )),
                            };
                            *response.status_mut() = http::StatusCode::from_u16(code).expect("status");
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        TestSink { url, state }
    }

    /// What it has accepted so far (events answered with a 2xx).
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("sink lock").clone()
    }

    /// Waits (10 s at most) until it has accepted `count` events, and
    /// returns them: functions publish after they reply, in the background.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= count || std::time::Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Requests it has had, whatever it answered.
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// Takes this long over each request from now on, as a slow broker does.
    pub fn delay(&self, delay: std::time::Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// The status to answer from now on; a non-2xx one records nothing.
    /// Refuses events of type `ty` with 400, as a broker refuses a malformed event.
    pub fn refuse_type(&self, ty: &str) {
        self.answer_for("ce-type", ty, 400);
    }

    /// Answers `status` to the requests whose header `name` is `value`.
    pub fn answer_for(&self, name: &str, value: &str, status: u16) {
        *self.state.answer_for.lock().expect("sink lock") = Some((name.to_owned(), value.to_owned(), status));
    }

    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answers every accepted event with a reply event of this type.
    pub fn reply_with(&self, ty: &str) {
        *self.state.reply_type.lock().expect("sink lock") = Some(ty.to_owned());
    }
}

/// A URL where nothing listens: a sink that is down.
pub async fn closed_url() -> String {
    // Bound and never listening: a connection is refused, and the port stays
    // this process's, so no server a test starts later is handed it (a port
    // merely freed was, now and then, and answered 404).
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::mem::forget(socket);
    format!("http://{addr}/default/default")
}
