//! [`OpenAiDiagnoser`]: OpenAI-compatible Chat Completions (`POST {base}/chat/completions`).
//!
//! Request: `Authorization: Bearer <key>` (omitted when there is no key, as for a local server);
//! a body with `model`, `messages` (`system` then `user`), `temperature`, `max_tokens` or
//! `max_completion_tokens`, and `response_format: {"type": "json_object"}` when asked. Answer:
//! `choices[0].message.content` and `usage.prompt_tokens`/`completion_tokens`. Errors:
//! `{"error": {"message": ..., "type": ..., "code": ...}}`.

use async_trait::async_trait;
use operator_core::Context;
use operator_core::diagnosis::{DiagnoseError, Diagnoser, DiagnosisReport, Usage};
use serde_json::{Value, json};

use crate::config::{LlmConfig, TokenField};
use crate::conversation::converse;
use crate::error::Error;
use crate::prompt;
use crate::retry::Endpoint;

/// Diagnoses with a model behind an OpenAI-compatible Chat Completions API.
#[derive(Debug)]
pub struct OpenAiDiagnoser {
    config: LlmConfig,
    client: reqwest::Client,
}

impl OpenAiDiagnoser {
    /// A diagnoser for `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn new(config: LlmConfig) -> Result<Self, Error> {
        config.validate()?;
        let client = config.client()?;
        Ok(Self { config, client })
    }

    fn endpoint(&self) -> Endpoint<'_> {
        let mut headers = Vec::new();
        if let Some(key) = self.config.api_key.as_deref().filter(|k| !k.is_empty()) {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        Endpoint {
            provider: "openai",
            config: &self.config,
            client: &self.client,
            url: self.config.endpoint("chat/completions"),
            headers,
            error_of: |v| {
                let e = v.get("error")?;
                let message = e
                    .get("message")
                    .and_then(Value::as_str)
                    .or_else(|| e.as_str())?
                    .to_owned();
                let kind = e
                    .get("type")
                    .or_else(|| e.get("code"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Some((kind, message))
            },
        }
    }

    fn body(&self, messages: &[Value]) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
        });
        let field = match self.config.token_field {
            TokenField::MaxTokens => "max_tokens",
            TokenField::MaxCompletionTokens => "max_completion_tokens",
        };
        body[field] = json!(self.config.max_output_tokens);
        if self.config.json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        body
    }
}

/// `(text, usage)` of a Chat Completions answer.
fn read_answer(body: &str) -> Result<(String, Usage), Error> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| Error::Protocol(format!("answer is not JSON: {e}")))?;
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| Error::Protocol("no `choices`".into()))?;
    let text = choice["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let usage = Usage {
        input_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
    };
    Ok((text, usage))
}

#[async_trait]
impl Diagnoser for OpenAiDiagnoser {
    fn name(&self) -> String {
        format!("openai/{}", self.config.model)
    }

    async fn diagnose(&self, ctx: &Context) -> Result<DiagnosisReport, DiagnoseError> {
        let messages = vec![
            json!({"role": "system", "content": prompt::system(ctx)}),
            json!({"role": "user", "content": prompt::user(ctx)}),
        ];
        converse(
            &self.endpoint(),
            self.name(),
            ctx,
            messages,
            |m| self.body(m),
            read_answer,
        )
        .await
    }
}
