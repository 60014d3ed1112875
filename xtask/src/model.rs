//! A stand-in for Groq on this machine, speaking its chat-completions
//! protocol, for the smoke stack (Groq itself cannot be reached here): asked
//! with tools, it calls `market_data`; given the tool's result, it answers
//! from that data (how many flights it was shown, and the first); asked
//! without tools (a price's explanation), it answers a sentence. So the AI
//! functions' real client, tools and retrieval run end to end.

use std::time::Duration;

use serde_json::{Value, json};

/// Serves the stand-in on a free port for as long as this process runs:
/// its base URL, as `GROQ_BASE_URL` takes it.
pub fn serve() -> anyhow::Result<String> {
    crate::services::on_own_thread(|ready| async move {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => return drop(ready.send(Err(e.to_string()))),
        };
        let url = listener.local_addr().map(|a| format!("http://{a}/openai/v1")).map_err(|e| e.to_string());
        let _ = ready.send(url);
        let handler = |request: http::Request<hyper::body::Incoming>| async move {
            let body = shared::http::read_body(request.into_body(), 1 << 20, Duration::from_secs(10))
                .await
                .unwrap_or_default();
            let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut response = shared::http::text(http::StatusCode::OK, answer(&asked).to_string());
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            response
        };
        shared::http::serve_http(listener, handler, std::future::pending(), Duration::ZERO).await;
    })
}

/// The completion for a request.
fn answer(asked: &Value) -> Value {
    let messages = asked["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let offered_tools = asked["tools"].as_array().is_some_and(|t| !t.is_empty());
    let message = if last["role"] == "tool" {
        // An answer from what the tool returned, so it is the data's.
        let data: Value =
            serde_json::from_str(last["content"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
        let flights = data["flights"].as_array().cloned().unwrap_or_default();
        let content = match flights.first() {
            Some(f) => format!(
                "I found {} upcoming flights. The first is {} to {}, at {} in all.",
                flights.len(),
                f["flight_number"].as_str().unwrap_or("?"),
                f["destination"].as_str().unwrap_or("?"),
                f["total_price"].as_str().unwrap_or("?")
            ),
            None => "I found no upcoming flights.".to_owned(),
        };
        json!({"role": "assistant", "content": content})
    } else if offered_tools {
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call-1", "type": "function",
            "function": {"name": "market_data", "arguments": "{}"}
        }]})
    } else {
        json!({"role": "assistant", "content": "The suggestion follows the seats sold and the days left."})
    };
    json!({
        "id": "stand-in",
        "object": "chat.completion",
        "model": asked["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}
