//! [`AnthropicDiagnoser`]: the Anthropic Messages API (`POST /v1/messages`).
//!
//! Request: `x-api-key` and `anthropic-version` headers; a body with `model`, `max_tokens`,
//! `system`, `messages` (`[{"role": "user", "content": ...}]`) and `temperature`. Answer:
//! `content` blocks (the text ones are joined) and `usage.input_tokens`/`output_tokens`. Errors:
//! `{"type": "error", "error": {"type": ..., "message": ...}}`, 429 `rate_limit_error` (with
//! `retry-after`), 500 `api_error`, 529 `overloaded_error`.

use async_trait::async_trait;
use operator_core::Context;
use operator_core::diagnosis::{DiagnoseError, Diagnoser, DiagnosisReport, Usage};
use serde_json::{Value, json};

use crate::config::LlmConfig;
use crate::conversation::converse;
use crate::error::Error;
use crate::prompt;
use crate::retry::Endpoint;

/// The API version sent in `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Diagnoses with a model behind Anthropic's Messages API.
#[derive(Debug)]
pub struct AnthropicDiagnoser {
    config: LlmConfig,
    client: reqwest::Client,
}

impl AnthropicDiagnoser {
    /// A diagnoser for `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid or has no API key.
    pub fn new(config: LlmConfig) -> Result<Self, Error> {
        config.validate()?;
        if config.api_key.as_deref().is_none_or(str::is_empty) {
            return Err(Error::Config("the Anthropic API needs an API key".into()));
        }
        let client = config.client()?;
        Ok(Self { config, client })
    }

    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            provider: "anthropic",
            config: &self.config,
            client: &self.client,
            url: self.config.endpoint("/v1/messages"),
            headers: vec![
                ("x-api-key", self.config.api_key.clone().unwrap_or_default()),
                ("anthropic-version", ANTHROPIC_VERSION.to_owned()),
            ],
            error_of: |v| {
                let e = v.get("error")?;
                Some((
                    e.get("type")?.as_str()?.to_owned(),
                    e.get("message")?.as_str()?.to_owned(),
                ))
            },
        }
    }
}

/// `(text, usage)` of a Messages API answer.
fn read_answer(body: &str) -> Result<(String, Usage), Error> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| Error::Protocol(format!("answer is not JSON: {e}")))?;
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Protocol("no `content` array".into()))?;
    let text: Vec<&str> = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let usage = Usage {
        input_tokens: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
    };
    Ok((text.join(""), usage))
}

#[async_trait]
impl Diagnoser for AnthropicDiagnoser {
    fn name(&self) -> String {
        format!("anthropic/{}", self.config.model)
    }

    async fn diagnose(&self, ctx: &Context) -> Result<DiagnosisReport, DiagnoseError> {
        let system = prompt::system(ctx);
        let body = |messages: &[Value]| {
            json!({
                "model": self.config.model,
                "max_tokens": self.config.max_output_tokens,
                "temperature": self.config.temperature,
                "system": system,
                "messages": messages,
            })
        };
        let messages = vec![json!({"role": "user", "content": prompt::user(ctx)})];
        converse(
            &self.endpoint(),
            self.name(),
            ctx,
            messages,
            body,
            read_answer,
        )
        .await
    }
}
