//! Durations as people read them, in reports and narration.

use std::time::Duration;

/// `250ms`, `3s`, `1.25s`, `2m05s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms.is_multiple_of(1_000) {
            format!("{}s", ms / 1_000)
        } else {
            let s = format!("{:.2}", d.as_secs_f64());
            format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
        }
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60)
    }
}

/// Milliseconds of `d`, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
        assert_eq!(duration(Duration::from_secs(3)), "3s");
        assert_eq!(duration(Duration::from_millis(5_001)), "5s");
        assert_eq!(duration(Duration::from_millis(1_250)), "1.25s");
        assert_eq!(duration(Duration::from_millis(1_200)), "1.2s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }
}
