//! A sink behind TLS, signed by a CA of the cluster's own: the events reach
//! it when `K_CA_CERTS` holds that CA, and are refused without it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::json;
use shared::testing::{TestApp, free_port};

use crate::helpers::World;

/// A CA, and a certificate it signed for 127.0.0.1, made with openssl.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status();
        assert!(status.expect("openssl (apt-get install openssl)").success(), "openssl {args:?}");
    };
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Skybook Test CA"]
            .iter()
            .copied()
            .chain(["-keyout", "ca.key", "-out", "ca.pem"])
            .collect::<Vec<_>>(),
    );
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "sink.key",
        "-out",
        "sink.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "sink.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "sink.pem",
    ]);
}

/// An HTTPS server (Python's own) that answers 202 and writes each event's
/// ce-type to `received`, one a line.
struct TlsSink {
    child: Child,
    url: String,
    received: PathBuf,
}

impl Drop for TlsSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVER: &str = r#"
import http.server, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(out, "a") as f:
            f.write(self.headers.get("ce-type", "") + "\n")
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

async fn tls_sink(dir: &Path) -> TlsSink {
    let port = free_port();
    let received = dir.join("received.txt");
    let child = Command::new("python3")
        .args(["-c", SERVER, &port.to_string()])
        .arg(dir.join("sink.pem"))
        .arg(dir.join("sink.key"))
        .arg(&received)
        .spawn()
        .expect("python3");
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the TLS sink did not start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    TlsSink { child, url: format!("https://127.0.0.1:{port}/default/default"), received }
}

#[tokio::test]
async fn events_reach_a_tls_sink_through_the_ca_in_k_ca_certs_and_not_without_it() {
    let dir = std::env::temp_dir().join(format!("skybook-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let sink = tls_sink(&dir).await;
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();

    let w = World::new(&sink.url).await;
    let oslo = w.destination("Oslo", "0", false, true).await;
    let flight = w.flight(&oslo, "100", 10).await;
    let url = w.db.url();
    let data = json!({"flight_id": flight, "passenger_name": "Ada", "passenger_age": 40, "has_pet": false});

    // Without the CA, the sink's certificate is not trusted: nothing is sent.
    w.book.json(&data, None).await.expect(200);
    let mut error = None;
    for _ in 0..200 {
        error = sqlx::query_scalar("SELECT last_error FROM outbox").fetch_one(&w.db.pool).await.unwrap();
        if error.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let error: String = error.expect("the untrusted sink's failure is recorded");
    assert!(error.contains("sink unreachable"), "{error}");
    assert!(!sink.received.exists(), "an event reached a sink whose certificate no CA vouches for");

    // With K_CA_CERTS, it is.
    let trusting = TestApp::spawn_with(
        bookings::commands::create_booking::function(),
        &[("database_url", &url), ("k_sink", &sink.url), ("k_ca_certs", &ca)],
    )
    .await;
    trusting.json(&data, None).await.expect(200);
    let mut received = String::new();
    for _ in 0..200 {
        received = std::fs::read_to_string(&sink.received).unwrap_or_default();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(received, "skybook.booking.created\n");
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn k_ca_certs_that_are_not_certificates_stop_start_up_with_one_line() {
    let settings = shared::config::Settings::with_overrides(&[
        ("port", "0"),
        ("auth_disabled", "true"),
        ("k_ca_certs", "not a PEM"),
    ])
    .unwrap();
    let refused = shared::server::Server::bind(bookings::commands::create_booking::function(), settings)
        .await
        .err()
        .unwrap();
    assert!(refused.starts_with("configuration: K_CA_CERTS: "), "{refused}");
}

#[tokio::test]
async fn a_k_sink_that_is_not_an_http_url_stops_start_up_with_one_line() {
    for (sink, says) in [
        ("broker.default.svc", "configuration: K_SINK: not a URL"),
        ("amqp://broker/default", "configuration: K_SINK: must be an http(s) URL"),
    ] {
        let settings = shared::config::Settings::with_overrides(&[
            ("port", "0"),
            ("auth_disabled", "true"),
            ("k_sink", sink),
        ])
        .unwrap();
        let refused = shared::server::Server::bind(bookings::commands::create_booking::function(), settings)
            .await
            .err()
            .unwrap();
        assert!(refused.starts_with(says), "{sink}: {refused}");
    }
}
