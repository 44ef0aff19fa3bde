//! `operator diagnose TICKET`: the context document of a ticket and its diagnosis.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use clap::{Args, ValueEnum};
use operator_core::assess::observe_now;
use operator_core::context::{ContextConfig, gather};
use operator_core::diagnosis::Diagnoser;
use operator_core::ticket::AuditKind;
use operator_core::{
    Diagnosable, DiagnosisReport, Fallback, InvariantChecker, OfflineDiagnoser, Ticket, TicketStore,
};
use operator_llm::{AnthropicDiagnoser, LlmConfig, OpenAiDiagnoser};
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::exit::{self, CliError, CliResult};
use crate::output::print_json;
use crate::subjects::{Profile, SubjectArgs, WithSubject};

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
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub llm_timeout: Duration,
    /// Size budget of the context document, in bytes of JSON: whole entries are dropped, least
    /// useful first (oldest observations, then similar tickets...), and the document says so.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
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
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let primary: Box<dyn Diagnoser> = match self.diagnoser {
            DiagnoserKind::Offline => return Ok(Arc::new(offline)),
            DiagnoserKind::Anthropic => {
                let Some(key) = env("ANTHROPIC_API_KEY") else {
                    return Err(CliError::flag(
                        "--diagnoser anthropic",
                        "ANTHROPIC_API_KEY is not set (export it, or use --diagnoser offline)",
                    ));
                };
                let model = self
                    .model
                    .clone()
                    .or_else(|| env("ANTHROPIC_MODEL"))
                    .unwrap_or_else(|| ANTHROPIC_DEFAULT_MODEL.to_owned());
                let mut config = LlmConfig::anthropic(model)
                    .api_key(key)
                    .timeout(self.llm_timeout);
                if let Some(base) = env("ANTHROPIC_BASE_URL") {
                    config.base_url = base;
                }
                Box::new(
                    AnthropicDiagnoser::new(config)
                        .map_err(|e| CliError::flag("--diagnoser anthropic", e))?,
                )
            }
            DiagnoserKind::Openai => {
                let key = env("OPENAI_API_KEY");
                let base = env("OPENAI_BASE_URL");
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
                let model = self
                    .model
                    .clone()
                    .or_else(|| env("OPENAI_MODEL"))
                    .unwrap_or_else(|| OPENAI_DEFAULT_MODEL.to_owned());
                let mut config = LlmConfig::openai(base, model).timeout(self.llm_timeout);
                if let Some(k) = key {
                    config = config.api_key(k);
                }
                Box::new(
                    OpenAiDiagnoser::new(config)
                        .map_err(|e| CliError::flag("--diagnoser openai", e))?,
                )
            }
        };
        Ok(Arc::new(Fallback::new(primary, offline)))
    }

    /// The context configuration.
    pub fn context(&self) -> ContextConfig {
        ContextConfig {
            budget: self.budget,
            ..ContextConfig::default()
        }
    }
}

/// Flags of `operator diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The ticket.
    pub ticket: i64,
    /// Print the context document only (no diagnosis).
    #[arg(long)]
    pub context_only: bool,
    /// How to diagnose.
    #[command(flatten)]
    pub diagnosis: DiagnosisArgs,
    /// The ticket's subject and its connection, to observe it now (last, so its help headings
    /// close the list).
    #[command(flatten)]
    pub target: SubjectArgs,
}

/// Runs `operator diagnose`.
pub async fn run(global: &GlobalArgs, args: DiagnoseArgs) -> CliResult {
    let store = crate::commands::open_store(global)?;
    let ticket = store
        .get(args.ticket)
        .map_err(crate::commands::tickets::not_found)?;
    let target = args.target.clone();
    target
        .visit(Diagnose {
            json: global.json,
            args,
            store,
            ticket,
        })
        .await?
}

struct Diagnose {
    json: bool,
    args: DiagnoseArgs,
    store: Arc<TicketStore>,
    ticket: Ticket,
}

impl WithSubject for Diagnose {
    type Output = CliResult;

    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> CliResult
    where
        S: Diagnosable,
        C: InvariantChecker<S::Observation>,
    {
        let Diagnose {
            json,
            args,
            store,
            ticket,
        } = self;
        if ticket.subject != subject.name() {
            return Err(CliError::flag(
                "--subject",
                format!(
                    "ticket #{} is about subject {:?}, not {:?}",
                    ticket.id,
                    ticket.subject,
                    subject.name()
                ),
            ));
        }
        let diagnoser = if args.context_only {
            None
        } else {
            Some(args.diagnosis.diagnoser(subject.rules())?)
        };
        let (recent, now) = observe_now(&subject, &checker, &ticket, profile.observe_timeout).await;
        let config = args.diagnosis.context();
        let mut ctx = gather(
            &store,
            &subject,
            checker.invariants(),
            &ticket,
            &recent,
            Some(now),
            &config,
        )
        .await?;
        ctx.trim(config.budget);
        let Some(diagnoser) = diagnoser else {
            if json {
                print_json(&serde_json::to_value(&ctx).map_err(anyhow::Error::from)?);
            } else {
                print!("{}", ctx.to_markdown());
            }
            return Ok(exit::OK);
        };
        let report = diagnoser
            .diagnose(&ctx)
            .await
            .map_err(|e| CliError::Failed(anyhow::anyhow!("diagnosis failed: {e}")))?;
        record(&store, &report)?;
        if json {
            print_json(&json!({ "context": ctx, "diagnosis": report }));
        } else {
            println!("{}", ctx.to_markdown());
            println!("---\n");
            print!("{}", report.to_markdown());
        }
        Ok(exit::OK)
    }
}

/// Keeps the diagnosis with its ticket, and its model exchanges in the audit trail.
fn record(store: &TicketStore, report: &DiagnosisReport) -> Result<(), CliError> {
    let now = Utc::now();
    for x in &report.exchanges {
        store.add_audit(
            report.ticket,
            None,
            &AuditKind::Prompt,
            &format!("{}/{} attempt {}", x.provider, x.model, x.attempt),
            Some(&x.request),
            &json!({ "provider": x.provider, "model": x.model, "attempt": x.attempt, "text": x.request }),
            now,
        )?;
        store.add_audit(
            report.ticket,
            None,
            &AuditKind::Response,
            &format!(
                "{} in {} ms",
                x.status
                    .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}")),
                x.duration_ms
            ),
            Some(&x.response),
            &json!({ "status": x.status, "duration_ms": x.duration_ms, "text": x.response }),
            now,
        )?;
    }
    store.add_diagnosis(None, report)?;
    store.add_audit(
        report.ticket,
        None,
        &AuditKind::Diagnosis,
        &format!(
            "{} ({:.0}%, by {}{})",
            report.diagnosis.root_cause,
            report.diagnosis.confidence * 100.0,
            report.diagnoser,
            report
                .fallback
                .as_deref()
                .map(|f| format!("; fallback: {f}"))
                .unwrap_or_default()
        ),
        None,
        &serde_json::to_value(report).map_err(anyhow::Error::from)?,
        now,
    )?;
    Ok(())
}
