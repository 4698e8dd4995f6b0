//! The two wire formats over reqwest: OpenAI-compatible chat completions
//! and Anthropic messages. A call's failure is classified the way the
//! engine classifies a tool's (timeout, rate limit with Retry-After,
//! unreachable, server error, bad reply) so the chain can heal it.

use std::time::Duration;

use mend_core::config::{LlmModel, LlmProvider};
use serde_json::{Value, json};

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text of the reply.
    pub text: String,
    /// Prompt tokens, as the server counted them.
    pub input_tokens: u64,
    /// Reply tokens, as the server counted them.
    pub output_tokens: u64,
}

impl Completion {
    /// Tokens charged to the job's budget.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// 429: try again after this long (if the server said).
    #[error("rate limited (retry after {0:?} ms)")]
    RateLimited(Option<u64>),
    /// Nothing listening, DNS, TLS.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// 5xx.
    #[error("server error {0}")]
    Server(u16),
    /// 401/403: the key is missing or wrong.
    #[error("refused the API key ({0})")]
    Auth(u16),
    /// Another 4xx: the request is wrong for this server.
    #[error("rejected the request ({0}): {1}")]
    Rejected(u16, String),
    /// An answer that is not the wire format.
    #[error("unreadable answer: {0}")]
    BadReply(String),
    /// The API key could not be read.
    #[error("{0}")]
    Key(String),
}

impl CallError {
    /// Worth asking the same model again.
    pub fn transient(&self) -> bool {
        matches!(self, CallError::Timeout | CallError::RateLimited(_) | CallError::Server(_))
    }
}

/// The API key of a model: its environment variable, or its file (which
/// must not be readable by group or others).
pub fn api_key(m: &LlmModel) -> Result<Option<String>, CallError> {
    if let Some(var) = &m.api_key_env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            _ => Err(CallError::Key(format!("the environment variable {var} (api_key_env of model {}) is not set", m.name))),
        };
    }
    if let Some(path) = &m.api_key_file {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| CallError::Key(format!("{}: {e}", path.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(CallError::Key(format!("{}: the key file is readable by others; chmod 600 it", path.display())));
        }
        let key = std::fs::read_to_string(path).map_err(|e| CallError::Key(format!("{}: {e}", path.display())))?;
        return Ok(Some(key.trim().to_owned()));
    }
    Ok(None)
}

/// An HTTP client for one model.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    model: LlmModel,
    key: Option<String>,
}

impl Client {
    /// A client for `model` (its key read now).
    pub fn new(model: LlmModel) -> Result<Client, CallError> {
        let key = api_key(&model)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(model.connect_timeout_ms))
            .timeout(Duration::from_millis(model.timeout_ms))
            .build()
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        Ok(Client { http, model, key })
    }

    /// The model's configuration.
    pub fn model(&self) -> &LlmModel {
        &self.model
    }

    /// Sends one prompt (a system part and a user part).
    pub async fn complete(&self, system: &str, user: &str) -> Result<Completion, CallError> {
        let m = &self.model;
        let (url, body) = match m.provider {
            LlmProvider::Openai => (
                format!("{}/chat/completions", m.base_url),
                json!({
                    "model": m.model,
                    "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                    "max_tokens": m.max_tokens,
                    "temperature": 0,
                    "response_format": {"type": "json_object"},
                }),
            ),
            LlmProvider::Anthropic => (
                format!("{}/v1/messages", m.base_url),
                json!({
                    "model": m.model,
                    "system": system,
                    "messages": [{"role": "user", "content": user}],
                    "max_tokens": m.max_tokens,
                    "temperature": 0,
                }),
            ),
        };
        let mut req = self.http.post(&url).json(&body);
        if let Some(k) = &self.key {
            req = match m.provider {
                LlmProvider::Openai => req.bearer_auth(k),
                LlmProvider::Anthropic => req.header("x-api-key", k),
            };
        }
        if m.provider == LlmProvider::Anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<u64>().ok()).map(|s| s * 1000);
        let text = resp.text().await.map_err(classify)?;
        match status {
            200..=299 => {}
            429 => return Err(CallError::RateLimited(retry_after)),
            401 | 403 => return Err(CallError::Auth(status)),
            500..=599 => return Err(CallError::Server(status)),
            _ => return Err(CallError::Rejected(status, text.chars().take(300).collect())),
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| CallError::BadReply(format!("not JSON: {e}")))?;
        read(m.provider, &v)
    }
}

fn classify(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else if e.is_connect() || e.is_request() {
        CallError::Unreachable(e.to_string())
    } else {
        CallError::BadReply(e.to_string())
    }
}

fn num(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

/// The text and usage of a 2xx answer.
pub fn read(provider: LlmProvider, v: &Value) -> Result<Completion, CallError> {
    match provider {
        LlmProvider::Openai => {
            let text = v.pointer("/choices/0/message/content").and_then(Value::as_str);
            let text = text.ok_or_else(|| CallError::BadReply("no choices[0].message.content".into()))?;
            Ok(Completion {
                text: text.to_owned(),
                input_tokens: num(v, "/usage/prompt_tokens"),
                output_tokens: num(v, "/usage/completion_tokens"),
            })
        }
        LlmProvider::Anthropic => {
            let blocks = v.get("content").and_then(Value::as_array).ok_or_else(|| CallError::BadReply("no content".into()))?;
            let text: String =
                blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n");
            if text.is_empty() {
                return Err(CallError::BadReply("no text block in content".into()));
            }
            Ok(Completion { text, input_tokens: num(v, "/usage/input_tokens"), output_tokens: num(v, "/usage/output_tokens") })
        }
    }
}
