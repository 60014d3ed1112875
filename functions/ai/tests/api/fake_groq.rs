//! A chat-completions server: answers from a script the test writes, and
//! keeps every request it gets so the test can check what was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub struct FakeGroq {
    /// The base URL, as `GROQ_BASE_URL` takes it.
    pub url: String,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<(http::HeaderMap, Value)>>,
    script: Mutex<VecDeque<(u16, Value, Option<&'static str>)>>,
}

impl FakeGroq {
    pub async fn start() -> FakeGroq {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/openai/v1", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let served = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                let service =
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let (status, reply, retry_after) = if path != "/openai/v1/chat/completions" {
                                (404, json!({"error": {"message": "unknown path"}}), None)
                            } else {
                                let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                                state.requests.lock().unwrap().push((parts.headers, parsed));
                                state.script.lock().unwrap().pop_front().unwrap_or((
                                    500,
                                    json!({"error": "no script"}),
                                    None,
                                ))
                            };
                            let mut response = http::Response::new(Full::new(Bytes::from(reply.to_string())));
                            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            response
                                .headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            if let Some(after) = retry_after {
                                response.headers_mut().insert("retry-after", after.parse().unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        FakeGroq { url, state }
    }

    /// The next reply: the model asks for a tool.
    pub fn tool_call(&self, name: &str, arguments: Value) {
        let message = json!({
            "role": "assistant", "content": null,
            "tool_calls": [{"id": format!("call_{name}"), "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()}}]
        });
        self.reply(200, completion(message), None);
    }

    /// The next reply: the model's final answer.
    pub fn answer(&self, text: &str) {
        self.reply(200, completion(json!({"role": "assistant", "content": text})), None);
    }

    pub fn reply(&self, status: u16, body: Value, retry_after: Option<&'static str>) {
        self.state.script.lock().unwrap().push_back((status, body, retry_after));
    }

    /// Every request so far: its headers and JSON body.
    pub fn requests(&self) -> Vec<(http::HeaderMap, Value)> {
        self.state.requests.lock().unwrap().clone()
    }
}

pub fn completion(message: Value) -> Value {
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}
