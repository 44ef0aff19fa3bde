//! The text of a flag's default, made from the library's `Default` value, so each default is
//! written once, in the library, and `--help` shows it as the flag would be typed.
//!
//! clap parses this text like a value given on the command line, so it must read back to the
//! same value (the tests check that it does).

use std::fmt::Display;
use std::time::Duration;

/// A duration as a flag takes it: `60s`, `500ms` (whole seconds or milliseconds, as people
/// write them), else humantime's form.
pub fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// A list as a comma-separated flag takes it.
pub fn list<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back_as_they_were() {
        for (d, text) in [
            (Duration::from_secs(60), "60s"),
            (Duration::from_secs(120), "120s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(2_500), "2500ms"),
            (Duration::from_micros(1_500), "1ms 500us"),
        ] {
            assert_eq!(duration(d), text);
            assert_eq!(humantime::parse_duration(text).unwrap(), d);
        }
        assert_eq!(list(&[8001, 8002]), "8001,8002");
    }
}
