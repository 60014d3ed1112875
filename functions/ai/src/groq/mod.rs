//! A client for Groq's OpenAI-compatible chat completions, with tool calling
//! and retries: one per process, its connections pooled.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use shared::config::Secret;

use crate::settings::AiSettings;
use shared::metrics::labels;
use shared::telemetry::trace_context::{self, KeyValue};
use shared::{Ctx, Error};
use tracing::Instrument;

mod wire;

pub use wire::{FunctionCall, Message, ToolCall, ToolFunction, ToolSpec};
use wire::{Request, Response};

/// Attempts per call: the first, and retries on 429, 5xx and network errors.
const ATTEMPTS: u32 = 3;
/// The largest reply read: a completion of 800 tokens is a few KiB, so a
/// body past this is no answer to use, and is not held in memory.
const MAX_REPLY_BYTES: usize = 1 << 20;
/// The longest `retry-after` honoured; longer ones fail the call at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

pub struct Groq {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Secret,
}

/// What the AI functions report of their calls to the model.
pub const METRICS: &[&dyn shared::metrics::Registered] = &[&LATENCY, &FAILURES, &TOKENS];
pub(crate) static LATENCY: shared::metrics::Histograms = shared::metrics::histograms(
    "groq_request_duration_seconds",
    "Calls to the model, by HTTP code (or network)",
);
pub(crate) static FAILURES: shared::metrics::Counters =
    shared::metrics::counters("groq_failures", "Calls to the model that failed, by HTTP code (or network)");
pub(crate) static TOKENS: shared::metrics::Counters =
    shared::metrics::counters("groq_tokens", "Tokens the model counted, by kind (prompt, completion)");

/// Adds what the model says a call cost (its `usage`) to the token counters.
fn count_tokens(body: &[u8]) -> Option<(u64, u64)> {
    #[derive(Deserialize)]
    struct Usage {
        prompt_tokens: u64,
        completion_tokens: u64,
    }
    #[derive(Deserialize)]
    struct WithUsage {
        usage: Option<Usage>,
    }
    if let Ok(WithUsage { usage: Some(usage) }) = serde_json::from_slice(body) {
        TOKENS.get_or_create(&labels(&[("kind", "prompt")])).inc_by(usage.prompt_tokens);
        TOKENS.get_or_create(&labels(&[("kind", "completion")])).inc_by(usage.completion_tokens);
        return Some((usage.prompt_tokens, usage.completion_tokens));
    }
    None
}

/// The process's client, or none when no key is set.
struct Client(Option<Arc<Groq>>);

impl Groq {
    /// The process's client; `ai_not_configured` when no key is set.
    pub fn get(ctx: &Ctx) -> Result<Arc<Groq>, Error> {
        let settings = ctx.section::<AiSettings>()?;
        ctx.singleton(|_| Client(Groq::new(settings).map(Arc::new))).0.clone().ok_or_else(|| {
            Error::NotConfigured {
                code: "ai_not_configured",
                message: "the AI functions need a Groq API key: set GROQ_API_KEY (a Kubernetes Secret in the cluster)"
                    .into(),
            }
        })
    }

    fn new(settings: &AiSettings) -> Option<Groq> {
        let key = settings.groq_api_key.clone()?;
        let timeout = settings.groq_timeout();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .ok()?;
        Some(Groq {
            http,
            url: format!("{}/chat/completions", settings.groq_base_url.trim_end_matches('/')),
            model: settings.groq_model.clone(),
            key,
        })
    }

    /// One chat completion; retried with backoff on 429 (honouring
    /// `retry-after`), 5xx and network errors. After that: `ai_unavailable`.
    pub async fn chat(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        tool_choice: Option<&str>,
    ) -> Result<Message, Error> {
        let body = Request {
            model: &self.model,
            messages,
            tools,
            tool_choice: if tools.is_empty() { None } else { tool_choice.or(Some("auto")) },
            temperature: 0.2,
            max_tokens: 800,
        };
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            let started = std::time::Instant::now();
            let span = self.span(attempt);
            let request = self.http.post(&self.url).bearer_auth(self.key.expose()).json(&body);
            let sent = request.send().instrument(span.clone()).await;
            let status = sent.as_ref().map_or(0, |r| r.status().as_u16());
            trace_context::record_status(&span, status, false);
            let code =
                sent.as_ref().map_or_else(|_| "network".to_owned(), |r| r.status().as_u16().to_string());
            LATENCY.get_or_create(&labels(&[("code", &code)])).observe(started.elapsed().as_secs_f64());
            if !sent.as_ref().is_ok_and(|r| r.status().is_success()) {
                FAILURES.get_or_create(&labels(&[("code", &code)])).inc();
            }
            let wait = match sent {
                Ok(response) if response.status().is_success() => {
                    let bytes = read_limited(response).await?;
                    if let Some((input, output)) = count_tokens(&bytes) {
                        trace_context::set_attributes(&span, || {
                            vec![
                                KeyValue::new("gen_ai.usage.input_tokens", input as i64),
                                KeyValue::new("gen_ai.usage.output_tokens", output as i64),
                            ]
                        });
                    }
                    return parse_reply(&bytes);
                }
                Ok(response) if response.status().as_u16() == 429 || response.status().is_server_error() => {
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry_after);
                    last_error = format!("Groq answered {}", response.status());
                    match retry_after {
                        Some(wait) if wait > MAX_RETRY_AFTER => break,
                        Some(wait) => wait,
                        None => backoff(attempt),
                    }
                }
                Ok(response) => {
                    // 400, 401, 404...: a retry would fail the same way.
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(unavailable(format!("Groq refused the request ({status}): {text}")));
                }
                Err(e) => {
                    last_error = format!("Groq unreachable: {e}");
                    backoff(attempt)
                }
            };
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
            }
        }
        Err(unavailable(last_error))
    }
}

impl Groq {
    /// A client span per call to the model, as the GenAI semantic conventions
    /// name and describe it. The trace context is not sent: Groq is not ours.
    fn span(&self, attempt: u32) -> tracing::Span {
        let span =
            tracing::info_span!("groq", otel.name = tracing::field::Empty, otel.kind = "client", attempt);
        trace_context::set_name(&span, || format!("chat {}", self.model));
        trace_context::set_attributes(&span, || {
            vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.provider.name", "groq"),
                KeyValue::new("gen_ai.request.model", self.model.clone()),
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", self.url.clone()),
            ]
        });
        span
    }
}

/// A `retry-after` in seconds, as Groq sends it. Whatever the network says
/// (negative, NaN, infinite, too large, an HTTP date) gives a wait or none,
/// never a panic: the release profile aborts on panic, taking every request
/// in flight with it.
fn retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt - 1))
}

/// The body of a reply, up to [`MAX_REPLY_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, Error> {
    let too_large = || unavailable(format!("reply larger than {MAX_REPLY_BYTES} bytes"));
    if response.content_length().is_some_and(|length| length > MAX_REPLY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| unavailable(format!("unreadable reply: {e}")))?
    {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first choice's message of a chat completion body. The body comes from
/// the network: anything else is `ai_unavailable`, never a panic.
pub fn parse_reply(body: &[u8]) -> Result<Message, Error> {
    let parsed: Response =
        serde_json::from_slice(body).map_err(|e| unavailable(format!("unreadable reply: {e}")))?;
    parsed.choices.into_iter().next().map(|c| c.message).ok_or_else(|| unavailable("no choices"))
}

fn unavailable(detail: impl ToString) -> Error {
    Error::unavailable("ai_unavailable", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_from_the_network_never_panics() {
        assert_eq!(retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        for bad in ["-1", "NaN", "inf", "-inf", "1e400", "", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            assert_eq!(retry_after(bad), None, "{bad:?}");
        }
        // Far too long to wait is still a value; the caller gives up on it.
        assert!(retry_after("1e12").is_some_and(|d| d > MAX_RETRY_AFTER));
    }
}
