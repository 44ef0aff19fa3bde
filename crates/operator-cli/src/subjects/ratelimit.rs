//! `--subject ratelimit`: flags of the rate limiter subject.

use clap::Args;

use super::WithSubject;
use crate::exit::CliError;

/// Connection to the rate limiter's Redis and nodes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rate limiter (--subject ratelimit)")]
pub struct RateLimitArgs {
    /// Redis URL of the rate limiter (`redis://[:password@]host:port[/db]`, or `rediss://`).
    #[arg(
        long,
        env = "OPERATOR_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        value_name = "URL"
    )]
    pub redis_url: String,
}

impl RateLimitArgs {
    /// Builds the subject and hands it to `visitor`.
    pub async fn visit<V: WithSubject>(&self, _visitor: V) -> Result<V::Output, CliError> {
        Err(CliError::Usage("--subject ratelimit: not wired yet".into()))
    }
}
