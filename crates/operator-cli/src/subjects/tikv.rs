//! `--subject tikv`: flags of the TiKV subject.

use clap::Args;

use super::WithSubject;
use crate::exit::CliError;

/// Connection to PD and Prometheus.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "TiKV (--subject tikv)")]
pub struct TikvArgs {
    /// PD HTTP endpoint.
    #[arg(
        long = "pd",
        env = "OPERATOR_PD_URL",
        default_value = "http://127.0.0.1:2379",
        value_name = "URL"
    )]
    pub pd_url: String,
}

impl TikvArgs {
    /// Builds the subject and hands it to `visitor`.
    pub async fn visit<V: WithSubject>(&self, _visitor: V) -> Result<V::Output, CliError> {
        Err(CliError::Usage("--subject tikv: not wired yet".into()))
    }
}
