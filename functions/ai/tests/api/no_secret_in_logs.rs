//! The keys a process is given never reach its logs, even at debug level,
//! whatever the requests do.

use serde_json::json;
use shared::testing::{ReadResponse, TestDb, TestProcess, TestRedis, binary};

use crate::fake_groq::FakeGroq;

const GROQ_KEY: &str = "gsk-groq-secret-7f3a9c";
const CLIENT_KEY: &str = "client-secret-key-41b2";
const DB_PASSWORD: &str = "pg-secret-password-88d1";

#[tokio::test]
async fn no_key_or_password_is_ever_logged() {
    let (db, redis, groq) = (TestDb::new().await, TestRedis::new().await, FakeGroq::start().await);
    let database_url = db.url().replace(":postgres@", &format!(":{DB_PASSWORD}@"));
    let log = std::env::temp_dir().join(format!("skybook-secrets-{}.log", uuid_like()));
    let keys = format!("passenger:{CLIENT_KEY}");
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("GROQ_API_KEY", GROQ_KEY),
        ("GROQ_BASE_URL", groq.url.as_str()),
        ("AUTH_API_KEYS", keys.as_str()),
        ("RUST_LOG", "debug"),
        ("LOG_FORMAT", "json"),
    ];
    let mut chat = TestProcess::start_logged(binary("ai-chat"), &env, log.clone()).await;
    let mut booking = TestProcess::start_logged(binary("create-booking"), &env, log.clone()).await;
    let client = reqwest::Client::new();
    let question = json!({"question": "¿Qué vuelos hay?"});

    groq.tool_call("market_data", json!({}));
    groq.answer("No hay vuelos.");
    let answered = client.post(&chat.url).bearer_auth(CLIENT_KEY).json(&question).send().await.read().await;
    assert_eq!(answered.status, 200, "{}", String::from_utf8_lossy(&answered.body));
    let wrong = client.post(&chat.url).bearer_auth("not-the-key").json(&question).send().await.read().await;
    assert_eq!(wrong.status, 401);
    groq.reply(401, json!({"error": {"message": "invalid api key"}}), None);
    let refused = client.post(&chat.url).bearer_auth(CLIENT_KEY).json(&question).send().await.read().await;
    assert_eq!(refused.status, 503);
    let unknown = json!({"flight_id": "00000000-0000-4000-8000-000000000001", "passenger_name": "Ana", "passenger_age": 30});
    let booked = client.post(&booking.url).bearer_auth(CLIENT_KEY).json(&unknown).send().await.read().await;
    assert_eq!(booked.status, 422);
    chat.kill();
    booking.kill();

    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(text.contains("listening") && text.contains("ai-chat"), "the processes logged nothing:\n{text}");
    for secret in [GROQ_KEY, CLIENT_KEY, DB_PASSWORD] {
        assert!(!text.contains(secret), "{secret} appears in the logs:\n{text}");
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}
