//! [`DiagnosisArgs`]: who diagnoses (the subject's rules, or a model behind an API), and the
//! context's size budget; shared by `diagnose` and `agent`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use operator_core::context::ContextConfig;
use operator_core::diagnosis::Diagnoser;
use operator_core::{Fallback, OfflineDiagnoser};
use operator_llm::{AnthropicDiagnoser, LlmConfig, OpenAiDiagnoser};

use crate::args::default_text;
use crate::exit::CliError;

/// Default model of `--diagnoser anthropic` (overridden by `ANTHROPIC_MODEL` or `--model`).
const ANTHROPIC_DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// Default model of `--diagnoser openai` (overridden by `OPENAI_MODEL` or `--model`).
const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";

/// Who diagnoses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnoserKind {
    /// The subject's rules: no model, no network.
    Offline,
    /// A model behind Anthropic's Messages API (needs ANTHROPIC_API_KEY; ANTHROPIC_MODEL and
    /// ANTHROPIC_BASE_URL are optional).
    Anthropic,
    /// A model behind an OpenAI-compatible Chat Completions API: OpenAI (OPENAI_API_KEY) or a
    /// local server such as Ollama, vLLM or llama.cpp (OPENAI_BASE_URL, e.g.
    /// http://localhost:11434/v1); OPENAI_MODEL is optional.
    Openai,
}

/// How diagnoses are made, shared by `diagnose` and `agent`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Diagnosis")]
pub struct DiagnosisArgs {
    /// Who diagnoses. A model's answer is validated; if it fails or is invalid, the offline
    /// diagnosis is used and says why.
    #[arg(
        long,
        value_enum,
        env = "OPERATOR_DIAGNOSER",
        default_value = "offline"
    )]
    pub diagnoser: DiagnoserKind,
    /// Model name [default: $ANTHROPIC_MODEL or claude-sonnet-4-5; $OPENAI_MODEL or gpt-4o-mini]
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Bound on each model request (retried on 429, 5xx and timeouts).
    #[arg(long, default_value = default_text::duration(LlmConfig::anthropic(ANTHROPIC_DEFAULT_MODEL).timeout), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub llm_timeout: Duration,
    /// Size budget of the context document, in bytes of JSON: whole entries are dropped, least
    /// useful first (oldest observations, then similar tickets...), and the document says so.
    #[arg(long, default_value_t = ContextConfig::default().budget, value_name = "BYTES")]
    pub budget: usize,
}

impl DiagnosisArgs {
    /// The diagnoser, falling back to the offline one built from `rules` when a model is asked.
    ///
    /// # Errors
    /// A usage error naming the missing environment variable, or a bad setting.
    pub fn diagnoser(
        &self,
        rules: Vec<operator_core::Rule>,
    ) -> Result<Arc<dyn Diagnoser>, CliError> {
        let offline = OfflineDiagnoser::new(rules);
        let primary = match self.diagnoser {
            DiagnoserKind::Offline => return Ok(Arc::new(offline)),
            DiagnoserKind::Anthropic => self.anthropic()?,
            DiagnoserKind::Openai => self.openai()?,
        };
        Ok(Arc::new(Fallback::new(primary, offline)))
    }

    /// `--model`, else the environment variable `variable`, else `default`.
    fn model(&self, variable: &str, default: &str) -> String {
        self.model
            .clone()
            .or_else(|| env_value(variable))
            .unwrap_or_else(|| default.to_owned())
    }

    /// A model behind Anthropic's Messages API.
    fn anthropic(&self) -> Result<Box<dyn Diagnoser>, CliError> {
        let Some(key) = env_value("ANTHROPIC_API_KEY") else {
            return Err(CliError::flag(
                "--diagnoser anthropic",
                "ANTHROPIC_API_KEY is not set (export it, or use --diagnoser offline)",
            ));
        };
        let model = self.model("ANTHROPIC_MODEL", ANTHROPIC_DEFAULT_MODEL);
        let mut config = LlmConfig::anthropic(model)
            .api_key(key)
            .timeout(self.llm_timeout);
        if let Some(base) = env_value("ANTHROPIC_BASE_URL") {
            config.base_url = base;
        }
        let diagnoser = AnthropicDiagnoser::new(config)
            .map_err(|e| CliError::flag("--diagnoser anthropic", e))?;
        Ok(Box::new(diagnoser))
    }

    /// A model behind an OpenAI-compatible Chat Completions API.
    fn openai(&self) -> Result<Box<dyn Diagnoser>, CliError> {
        let key = env_value("OPENAI_API_KEY");
        let base = env_value("OPENAI_BASE_URL");
        if key.is_none() && base.is_none() {
            return Err(CliError::flag(
                "--diagnoser openai",
                "OPENAI_API_KEY is not set (export it for OpenAI, or set OPENAI_BASE_URL \
                 to a local server such as http://localhost:11434/v1)",
            ));
        }
        let base = base.unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
        if key.is_none() && base.contains("api.openai.com") {
            return Err(CliError::flag(
                "--diagnoser openai",
                "OPENAI_API_KEY is not set (OpenAI's API needs one)",
            ));
        }
        let model = self.model("OPENAI_MODEL", OPENAI_DEFAULT_MODEL);
        let mut config = LlmConfig::openai(base, model).timeout(self.llm_timeout);
        if let Some(k) = key {
            config = config.api_key(k);
        }
        let diagnoser =
            OpenAiDiagnoser::new(config).map_err(|e| CliError::flag("--diagnoser openai", e))?;
        Ok(Box::new(diagnoser))
    }

    /// The context configuration.
    pub fn context(&self) -> ContextConfig {
        ContextConfig {
            budget: self.budget,
            ..ContextConfig::default()
        }
    }
}

/// The environment variable `name`, when it is set to something other than blanks.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
