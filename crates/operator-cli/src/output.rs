//! Formatting shared by the commands' text output.

use chrono::{DateTime, SecondsFormat, Utc};
use operator_core::Violation;

/// RFC 3339, UTC, whole seconds: what text output shows.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `invariant[entity]` or `invariant`.
pub fn what(invariant: &str, entity: Option<&str>) -> String {
    match entity {
        Some(e) => format!("{invariant}[{e}]"),
        None => invariant.to_owned(),
    }
}

/// `invariant[entity]` of a violation.
pub fn what_violation(v: &Violation) -> String {
    what(&v.invariant, v.entity.as_deref())
}

/// A human duration, rounded to what matters (`1.2s`, `3m04s`, `2h05m`).
pub fn duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", d.as_secs_f64()),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// Prints a JSON value on one line.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(340)), "340ms");
        assert_eq!(duration(Duration::from_millis(1_240)), "1.2s");
        assert_eq!(duration(Duration::from_secs(184)), "3m04s");
        assert_eq!(duration(Duration::from_secs(7_500)), "2h05m");
    }
}
