//! What the AI functions read besides the runtime's settings: the model and
//! how long they wait for it.

use std::time::Duration;

use shared::config::Secret;

shared::settings! {
    /// The AI slice's settings.
    pub struct AiSettings {
        /// Groq's API key; unset: the AI functions answer 503 ai_not_configured.
        #[serde(deserialize_with = "shared::config::de::empty_as_none")]
        groq_api_key: Option<Secret> = "",
        groq_base_url: String = "https://api.groq.com/openai/v1",
        groq_model: String = "llama-3.3-70b-versatile",
        /// Timeout of one call to the model.
        groq_timeout_ms: u64 = "20000",
        /// The most one request to an AI function may take, retries and tool
        /// rounds included.
        ai_deadline_ms: u64 = "30000",
    }
}

impl AiSettings {
    pub fn ai_deadline(&self) -> Duration {
        Duration::from_millis(self.ai_deadline_ms)
    }

    pub fn groq_timeout(&self) -> Duration {
        Duration::from_millis(self.groq_timeout_ms)
    }
}
