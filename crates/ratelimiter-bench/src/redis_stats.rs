//! Redis `INFO commandstats`, to count the Redis commands a load run cost.

use std::collections::BTreeMap;

/// Calls per command (lowercase names, e.g. `evalsha`, `hmget`), from `INFO commandstats` text.
pub fn parse_commandstats(info: &str) -> BTreeMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Script calls (`evalsha`, `eval`, `fcall` and their read-only variants) among `calls`
/// (a [`delta`]).
pub fn script_calls(calls: &BTreeMap<String, u64>) -> u64 {
    [
        "evalsha",
        "eval",
        "fcall",
        "evalsha_ro",
        "eval_ro",
        "fcall_ro",
    ]
    .iter()
    .filter_map(|name| calls.get(*name))
    .sum()
}

/// Per-command call deltas between two snapshots (commands absent before count from 0).
pub fn delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(before.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_subtracts() {
        let before = parse_commandstats(
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5,usec_per_call=0.5,rejected_calls=0,failed_calls=0\r\ncmdstat_ping:calls=3,usec=1\r\n",
        );
        let after = parse_commandstats(
            "cmdstat_evalsha:calls=110,usec=50\r\ncmdstat_ping:calls=3,usec=1\r\ncmdstat_hmget:calls=100,usec=9\r\n",
        );
        let d = delta(&before, &after);
        assert_eq!(d.get("evalsha"), Some(&100));
        assert_eq!(d.get("hmget"), Some(&100));
        assert!(!d.contains_key("ping"));
        assert_eq!(script_calls(&d), 100);
    }
}
