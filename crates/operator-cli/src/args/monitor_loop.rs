//! [`LoopArgs`]: the monitor loop's flags (`--interval`, `--timeout`, `--pending`,
//! `--keep-firing`), shared by `monitor` and `dashboard`, which both run the loop, and turned
//! into a [`MonitorConfig`] checked against the subject's invariants.

use std::time::Duration;

use clap::Args;
use operator_core::alert::Timing;
use operator_core::monitor::SUBJECT_UNREACHABLE;
use operator_core::{InvariantChecker, InvariantSpec, MonitorConfig};

use crate::args::retention::RetentionArgs;
use crate::args::subject::Profile;
use crate::exit::CliError;

/// How the monitor loop observes and when its alerts fire.
#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    /// Time between observations, e.g. `500ms`, `5s` [default: the subject's]
    #[arg(long, env = "OPERATOR_INTERVAL", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Longest an observation may take before it counts as failed (`subject_unreachable`)
    /// [default: the subject's]
    #[arg(long, env = "OPERATOR_OBSERVE_TIMEOUT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Override an invariant's pending period (how long it must hold before firing), e.g.
    /// `high_latency=30s`. Repeatable.
    #[arg(long, value_parser = parse_timing, value_name = "INVARIANT=DURATION")]
    pub pending: Vec<(String, Duration)>,
    /// Override an invariant's keep-firing period (how long it stays firing after clearing), e.g.
    /// `node_down=10s`. Repeatable.
    #[arg(long, value_parser = parse_timing, value_name = "INVARIANT=DURATION")]
    pub keep_firing: Vec<(String, Duration)>,
}

fn parse_timing(s: &str) -> Result<(String, Duration), String> {
    let (name, d) = s
        .split_once('=')
        .ok_or_else(|| format!("expected INVARIANT=DURATION, got {s:?}"))?;
    if name.is_empty() {
        return Err("missing invariant name before '='".into());
    }
    let d = humantime::parse_duration(d).map_err(|e| format!("{d:?}: {e}"))?;
    Ok((name.to_owned(), d))
}

impl LoopArgs {
    /// The interval: the flag's, or the subject's.
    pub fn interval(&self, profile: Profile) -> Duration {
        self.interval.unwrap_or(profile.interval)
    }

    /// The loop's configuration for `checker`'s invariants; `immediate` ignores pending and
    /// keep-firing periods (`--once`).
    ///
    /// # Errors
    /// A usage error naming the flag: an unknown invariant, a zero interval or timeout.
    pub fn config<O, C: InvariantChecker<O>>(
        &self,
        checker: &C,
        profile: Profile,
        immediate: bool,
        retention: &RetentionArgs,
    ) -> Result<MonitorConfig, CliError> {
        let mut config = MonitorConfig::default()
            .interval(self.interval(profile))
            .observe_timeout(self.timeout.unwrap_or(profile.observe_timeout))
            .immediate(immediate)
            .retention(retention.retention.0);
        let mut specs = checker.invariants();
        specs.push(InvariantSpec::new(SUBJECT_UNREACHABLE, ""));
        let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for (flag, overrides) in [
            ("--pending", &self.pending),
            ("--keep-firing", &self.keep_firing),
        ] {
            for (name, d) in overrides {
                let Some(spec) = specs.iter().find(|s| &s.name == name) else {
                    return Err(CliError::flag(
                        flag,
                        format!("unknown invariant {name:?} (known: {})", known.join(", ")),
                    ));
                };
                let mut t = config
                    .timing_overrides
                    .get(name)
                    .copied()
                    .unwrap_or(Timing {
                        pending: spec.pending,
                        keep_firing: spec.keep_firing,
                    });
                if flag == "--pending" {
                    t.pending = *d;
                } else {
                    t.keep_firing = *d;
                }
                config = config.timing(name.clone(), t);
            }
        }
        config
            .validate()
            .map_err(|e| CliError::flag("--interval/--timeout", e))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_timing;

    #[test]
    fn timing_overrides_parse() {
        assert_eq!(
            parse_timing("node_down=10s").unwrap(),
            ("node_down".into(), std::time::Duration::from_secs(10))
        );
        assert!(parse_timing("node_down").is_err());
        assert!(parse_timing("=1s").is_err());
        assert!(parse_timing("x=soon").is_err());
    }
}
