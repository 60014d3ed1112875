//! The chat completions API as Groq speaks it (OpenAI's shape): messages,
//! tool calls and the tools offered, the request and the reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(text: &str) -> Self {
        Message { role: "system".into(), content: Some(text.into()), tool_calls: vec![], tool_call_id: None }
    }

    pub fn user(text: &str) -> Self {
        Message { role: "user".into(), content: Some(text.into()), tool_calls: vec![], tool_call_id: None }
    }

    pub fn tool(call_id: &str, content: String) -> Self {
        Message {
            role: "tool".into(),
            content: Some(content),
            tool_calls: vec![],
            tool_call_id: Some(call_id.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it: parsed and validated before use.
    pub arguments: String,
}

/// A tool offered to the model: its name, what it is for, and its parameters as JSON schema.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: ToolFunction,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolFunction {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

#[derive(Serialize)]
pub(super) struct Request<'a> {
    pub(super) model: &'a str,
    pub(super) messages: &'a [Message],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) tools: &'a [ToolSpec],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<&'a str>,
    pub(super) temperature: f32,
    pub(super) max_tokens: u32,
}

#[derive(Deserialize)]
pub(super) struct Response {
    pub(super) choices: Vec<Choice>,
}

#[derive(Deserialize)]
pub(super) struct Choice {
    pub(super) message: Message,
}
