//! [`LlmConfig`]: where the model is and how to ask it.

use std::time::Duration;

use crate::error::Error;

/// Which field of a Chat Completions request carries the output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    /// `max_tokens`: what local servers (Ollama, vLLM, llama.cpp) read.
    MaxTokens,
    /// `max_completion_tokens`: what OpenAI's current models require.
    MaxCompletionTokens,
}

/// How to reach and ask a model. Build with [`LlmConfig::anthropic`] or [`LlmConfig::openai`],
/// adjust fields, then [`validate`](Self::validate). Only the binary reads environment variables.
#[derive(Clone, PartialEq)]
pub struct LlmConfig {
    /// Base URL: `https://api.anthropic.com` (the client adds `/v1/messages`), or an
    /// OpenAI-compatible base such as `https://api.openai.com/v1` or
    /// `http://localhost:11434/v1` (the client adds `/chat/completions`).
    pub base_url: String,
    /// API key (`x-api-key` for Anthropic, `Authorization: Bearer` for OpenAI); local servers
    /// may need none.
    pub api_key: Option<String>,
    /// Model name.
    pub model: String,
    /// Bound on each request, from sending to the whole answer.
    pub timeout: Duration,
    /// Bound on connecting.
    pub connect_timeout: Duration,
    /// Retries after a transient failure (429, 5xx, timeout).
    pub max_retries: u32,
    /// First backoff; doubled at each retry, with jitter.
    pub initial_backoff: Duration,
    /// Longest wait between attempts: a `retry-after` above it gives up instead.
    pub max_backoff: Duration,
    /// Times an invalid answer is sent back with the problems found, asking for a valid one.
    pub repair_attempts: u32,
    /// Output tokens the model may produce.
    pub max_output_tokens: u32,
    /// Sampling temperature (0: as deterministic as the model allows).
    pub temperature: f32,
    /// Chat Completions only: the output-limit field to send.
    pub token_field: TokenField,
    /// Chat Completions only: ask for `response_format: {"type": "json_object"}`.
    pub json_mode: bool,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl LlmConfig {
    fn base(base_url: &str, model: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            api_key: None,
            model: model.to_owned(),
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            repair_attempts: 1,
            max_output_tokens: 2_000,
            temperature: 0.0,
            token_field: TokenField::MaxTokens,
            json_mode: true,
        }
    }

    /// Anthropic's API with `model` (default base URL).
    pub fn anthropic(model: impl AsRef<str>) -> Self {
        Self::base("https://api.anthropic.com", model.as_ref())
    }

    /// An OpenAI-compatible API at `base_url` with `model`. OpenAI's own API gets
    /// `max_completion_tokens`, other servers `max_tokens`.
    pub fn openai(base_url: impl AsRef<str>, model: impl AsRef<str>) -> Self {
        let mut c = Self::base(base_url.as_ref(), model.as_ref());
        if base_url.as_ref().contains("api.openai.com") {
            c.token_field = TokenField::MaxCompletionTokens;
        }
        c
    }

    /// Sets the API key.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the first backoff.
    #[must_use]
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self) -> Result<(), Error> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base url {:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base url {:?}: expected http:// or https://",
                self.base_url
            )));
        }
        if self.model.trim().is_empty() {
            return Err(Error::Config("model: empty".into()));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be greater than zero".into()));
        }
        if self.max_output_tokens == 0 {
            return Err(Error::Config("max output tokens must be at least 1".into()));
        }
        Ok(())
    }

    /// `base_url` joined with `path`, without doubling the slash.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    pub(crate) fn client(&self) -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| Error::Config(format!("http client: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_the_key_is_never_printed() {
        let c = LlmConfig::anthropic("m").api_key("sk-secret");
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert_eq!(
            c.endpoint("/v1/messages"),
            "https://api.anthropic.com/v1/messages"
        );
        let o = LlmConfig::openai("http://localhost:11434/v1/", "llama3");
        assert_eq!(
            o.endpoint("chat/completions"),
            "http://localhost:11434/v1/chat/completions"
        );
        assert_eq!(o.token_field, TokenField::MaxTokens);
        assert_eq!(
            LlmConfig::openai("https://api.openai.com/v1", "gpt").token_field,
            TokenField::MaxCompletionTokens
        );
        assert!(LlmConfig::openai("ftp://x", "m").validate().is_err());
        assert!(LlmConfig::openai("http://x", " ").validate().is_err());
    }
}
