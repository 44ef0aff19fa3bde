//! `--retention`: how long resolved tickets are kept, for the long-running commands (`monitor`,
//! `agent`) and `tickets prune`.

use std::time::Duration;

use clap::Args;
use operator_core::monitor::DEFAULT_RETENTION;

/// `--retention DURATION`, or `off`.
#[derive(Debug, Clone, Copy, Args)]
pub struct RetentionArgs {
    /// Delete resolved tickets (with their log, snapshots, diagnoses and audit trail) once they
    /// have been resolved this long, e.g. `30d`, `12h`; `0` or `off` keeps them forever. Open
    /// tickets are never deleted. A long-running monitor prunes at start and then hourly.
    #[arg(long, env = "OPERATOR_RETENTION", default_value = "30d", value_parser = parse_retention, value_name = "DURATION")]
    pub retention: Retention,
}

/// How long resolved tickets are kept; `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

impl Default for Retention {
    fn default() -> Self {
        Self(Some(DEFAULT_RETENTION))
    }
}

/// `off`, `0`, or a duration of at least one second.
fn parse_retention(s: &str) -> Result<Retention, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") || s == "0" {
        return Ok(Retention(None));
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?}: {e} (expected e.g. `30d`, `12h`, or `off`)"))?;
    if d.is_zero() {
        return Ok(Retention(None));
    }
    Ok(Retention(Some(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_off_and_the_default_parse() {
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_retention("30d"), Ok(Retention::default()));
        assert_eq!(parse_retention("12h"), Ok(Retention(Some(day / 2))));
        assert_eq!(parse_retention("off"), Ok(Retention(None)));
        assert_eq!(parse_retention("0"), Ok(Retention(None)));
        assert_eq!(parse_retention("0s"), Ok(Retention(None)));
        assert!(parse_retention("soon").unwrap_err().contains("soon"));
    }
}
