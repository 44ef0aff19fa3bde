//! `--subject tikv`: flags of the TiKV subject, turned into `operator_tikv`'s configuration.

use std::time::Duration;

use clap::Args;
use operator_tikv::{Thresholds, TikvChecker, TikvConfig, TikvSubject};

use crate::args::default_text;
use crate::args::subject::with_subject::{Profile, WithSubject};
use crate::exit::CliError;

/// Monitor defaults for TiKV: PD's store heartbeats come every 10 s, and an observation may
/// have to try a PD endpoint or two (2 s per request by default) before one answers.
const PROFILE: Profile = Profile {
    interval: Duration::from_secs(10),
    observe_timeout: Duration::from_secs(8),
};

/// Connection to PD and Prometheus, and the thresholds of the TiKV invariants.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "TiKV (--subject tikv)")]
pub struct TikvArgs {
    /// PD client URL; several (comma-separated) are tried in order until one answers.
    #[arg(
        long = "pd",
        env = "OPERATOR_PD_URL",
        default_value = default_text::list(&TikvConfig::default().pd_endpoints),
        value_delimiter = ',',
        value_name = "URL[,URL...]"
    )]
    pub pd_url: Vec<String>,
    /// Prometheus scraping the TiKV status ports, for QPS and p99 latency; an empty value
    /// observes without metrics (`high_latency` is then never evaluated).
    #[arg(
        long = "prometheus",
        env = "OPERATOR_PROMETHEUS_URL",
        default_value = TikvConfig::default().prometheus.unwrap_or_default(),
        value_name = "URL"
    )]
    pub prometheus_url: String,
    /// Bound on each PD and Prometheus request.
    #[arg(
        long = "tikv-request-timeout",
        env = "OPERATOR_TIKV_REQUEST_TIMEOUT",
        default_value = default_text::duration(TikvConfig::default().request_timeout),
        value_parser = humantime::parse_duration,
        value_name = "DURATION"
    )]
    pub request_timeout: Duration,
    /// `high_latency` warns when a store's gRPC p99 exceeds this.
    #[arg(
        long = "tikv-p99-warning",
        env = "OPERATOR_TIKV_P99_WARNING",
        default_value = default_text::duration(Thresholds::default().p99_warning),
        value_parser = humantime::parse_duration,
        value_name = "DURATION"
    )]
    pub p99_warning: Duration,
    /// `high_latency` is critical when a store's gRPC p99 reaches this.
    #[arg(
        long = "tikv-p99-critical",
        env = "OPERATOR_TIKV_P99_CRITICAL",
        default_value = default_text::duration(Thresholds::default().p99_critical),
        value_parser = humantime::parse_duration,
        value_name = "DURATION"
    )]
    pub p99_critical: Duration,
    /// `low_disk_space` warns when a store has less than this percentage of its disk available.
    #[arg(
        long = "tikv-disk-warning",
        env = "OPERATOR_TIKV_DISK_WARNING",
        default_value_t = Thresholds::default().disk_available_warning * 100.0,
        value_name = "PERCENT"
    )]
    pub disk_warning: f64,
    /// `low_disk_space` is critical below this percentage.
    #[arg(
        long = "tikv-disk-critical",
        env = "OPERATOR_TIKV_DISK_CRITICAL",
        default_value_t = Thresholds::default().disk_available_critical * 100.0,
        value_name = "PERCENT"
    )]
    pub disk_critical: f64,
    /// `leader_imbalance` fires for a store more than this percentage off its fair share of
    /// Raft leaders.
    #[arg(
        long = "tikv-leader-imbalance",
        env = "OPERATOR_TIKV_LEADER_IMBALANCE",
        default_value_t = Thresholds::default().leader_imbalance * 100.0,
        value_name = "PERCENT"
    )]
    pub leader_imbalance: f64,
    /// `leader_imbalance` is only checked when Up stores hold at least this many leaders each
    /// on average.
    #[arg(
        long = "tikv-leader-min-mean",
        env = "OPERATOR_TIKV_LEADER_MIN_MEAN",
        default_value_t = Thresholds::default().leader_min_mean,
        value_name = "LEADERS"
    )]
    pub leader_min_mean: u64,
}

impl TikvArgs {
    /// Builds the subject and hands it to `visitor`.
    ///
    /// # Errors
    /// A usage error naming the flag when the configuration is invalid.
    pub async fn visit<V: WithSubject>(&self, visitor: V) -> Result<V::Output, CliError> {
        let config = self.config()?;
        let checker = TikvChecker::new(config.thresholds.clone());
        let subject = TikvSubject::new(config).map_err(|e| CliError::Failed(e.into()))?;
        Ok(visitor.with(subject, checker, PROFILE).await)
    }

    /// The subject's configuration, each part validated against the flags that set it.
    fn config(&self) -> Result<TikvConfig, CliError> {
        let endpoints: Vec<String> = self
            .pd_url
            .iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        let prometheus = Some(self.prometheus_url.trim()).filter(|u| !u.is_empty());
        let thresholds = Thresholds {
            p99_warning: self.p99_warning,
            p99_critical: self.p99_critical,
            disk_available_warning: self.disk_warning / 100.0,
            disk_available_critical: self.disk_critical / 100.0,
            leader_imbalance: self.leader_imbalance / 100.0,
            leader_min_mean: self.leader_min_mean,
        };
        let base = TikvConfig::default();
        let checks = [
            ("--pd", base.clone().pd_endpoints(endpoints.clone())),
            ("--prometheus", base.clone().prometheus(prometheus)),
            (
                "--tikv-request-timeout",
                base.clone().request_timeout(self.request_timeout),
            ),
            (
                "--tikv-p99-*/--tikv-disk-*/--tikv-leader-*",
                base.clone().thresholds(thresholds.clone()),
            ),
        ];
        for (flag, partial) in checks {
            partial.validate().map_err(|e| CliError::flag(flag, e))?;
        }
        Ok(base
            .pd_endpoints(endpoints)
            .prometheus(prometheus)
            .request_timeout(self.request_timeout)
            .thresholds(thresholds))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        tikv: TikvArgs,
    }

    fn parse(args: &[&str]) -> TikvArgs {
        Cli::try_parse_from(std::iter::once("operator").chain(args.iter().copied()))
            .unwrap()
            .tikv
    }

    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let config = parse(&[]).config().unwrap();
        assert_eq!(config, TikvConfig::default());
    }

    #[test]
    fn flags_become_the_configuration() {
        let config = parse(&[
            "--pd",
            "http://pd1:2379, http://pd2:2379",
            "--prometheus",
            "",
            "--tikv-p99-warning",
            "250ms",
            "--tikv-disk-warning",
            "30",
            "--tikv-leader-imbalance",
            "25",
        ])
        .config()
        .unwrap();
        assert_eq!(config.pd_endpoints, ["http://pd1:2379", "http://pd2:2379"]);
        assert_eq!(config.prometheus, None);
        assert_eq!(config.thresholds.p99_warning, Duration::from_millis(250));
        assert!((config.thresholds.disk_available_warning - 0.30).abs() < 1e-9);
        assert!((config.thresholds.leader_imbalance - 0.25).abs() < 1e-9);
    }

    #[test]
    fn bad_flags_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["--pd", "pd1:2379"], "--pd:"),
            (&["--pd", ""], "--pd:"),
            (&["--prometheus", "ftp://x"], "--prometheus:"),
            (
                &["--tikv-disk-critical", "50"],
                "--tikv-p99-*/--tikv-disk-*/--tikv-leader-*:",
            ),
        ];
        for (args, flag) in cases {
            let e = parse(args).config().unwrap_err().to_string();
            assert!(e.starts_with(flag), "{args:?}: {e}");
        }
    }
}
