//! Counters of what the node decided, and their Prometheus text rendering.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use ratelimiter_schema::{FailureMode, LimiterMode};

/// Upper bounds of the decision latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The node's counters. Cheap to update from any task (relaxed atomics).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Decisions allowed with Redis.
    pub allowed: AtomicU64,
    /// Decisions denied with Redis.
    pub denied: AtomicU64,
    /// Allowed decisions that left at most 20 % of the reported window.
    pub near_limit: AtomicU64,
    /// Decisions allowed by the `open` failure mode.
    pub failure_open: AtomicU64,
    /// Decisions denied by the `closed` failure mode.
    pub failure_closed: AtomicU64,
    /// Decisions allowed by the `local` failure mode.
    pub failure_local_allowed: AtomicU64,
    /// Decisions denied by the `local` failure mode.
    pub failure_local_denied: AtomicU64,
    /// Redis calls that failed.
    pub redis_errors: AtomicU64,
    /// Redis calls that ran past the timeout.
    pub redis_timeouts: AtomicU64,
    /// Decisions that did not call Redis because its breaker was open.
    pub redis_skipped: AtomicU64,
    /// Policy (re)loads from Redis.
    pub policy_reloads: AtomicU64,
    /// Scripts sent again (`EVAL`) after a Redis node answered `NOSCRIPT`.
    pub script_reloads: AtomicU64,
    /// Of those, the ones that failed.
    pub script_reload_failures: AtomicU64,
    /// Whether the last Redis call succeeded.
    pub redis_ok: AtomicBool,
    /// Last measured Redis round trip in µs (`u64::MAX`: never measured).
    pub redis_rtt_us: AtomicU64,
    /// Requests refused because their client was blocked (by any node).
    pub abuse_blocked_requests: AtomicU64,
    /// Clients this node blocked for enumeration.
    pub abuse_blocks_enumeration: AtomicU64,
    /// Clients this node blocked for using a honeypot key.
    pub abuse_blocks_honeypot: AtomicU64,
    /// Requests that used a honeypot key.
    pub abuse_honeypot_hits: AtomicU64,
    /// New keys allowed in process because the memory guard was on.
    pub memory_guard_allowed: AtomicU64,
    /// New keys denied in process because the memory guard was on.
    pub memory_guard_denied: AtomicU64,
    /// Whether the memory guard is on.
    pub memory_guard_active: AtomicBool,
    /// The node's clock minus Redis `TIME`, ms (`i64::MIN`: never measured).
    pub clock_skew_ms: AtomicI64,
    latency: Histogram,
    /// The rate-limit service's counters (envoyproxy/ratelimit style).
    pub rls: crate::rls::metrics::RlsMetrics,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl Metrics {
    /// Fresh counters, Redis not yet seen.
    pub fn new() -> Self {
        let m = Self::default();
        m.redis_rtt_us.store(u64::MAX, Relaxed);
        m.clock_skew_ms.store(i64::MIN, Relaxed);
        m
    }

    /// Records one decision's latency.
    pub fn observe_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.latency.counts[slot].fetch_add(1, Relaxed);
        self.latency.sum_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// Counts one failure-mode decision.
    pub fn count_failure(&self, mode: FailureMode, allowed: bool) {
        let counter = match (mode, allowed) {
            (FailureMode::Open, _) => &self.failure_open,
            (FailureMode::Closed, _) => &self.failure_closed,
            (FailureMode::Local, true) => &self.failure_local_allowed,
            (FailureMode::Local, false) => &self.failure_local_denied,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Notes whether a Redis call succeeded, writing only on change (keeps the hot path from
    /// bouncing a cache line between cores).
    pub fn set_redis_ok(&self, ok: bool) {
        if self.redis_ok.load(Relaxed) != ok {
            self.redis_ok.store(ok, Relaxed);
        }
    }

    /// The Prometheus text exposition of every metric, each labelled with `node`.
    pub fn render(&self, node: &str, policy_version: u64, up_nodes: usize) -> String {
        let node = escape_label(node);
        let mut out = String::with_capacity(4096);
        self.render_counters(&mut out, &node);
        self.render_abuse(&mut out, &node);
        self.latency.render(&mut out, &node);
        self.render_gauges(&mut out, &node, policy_version, up_nodes);
        self.rls.render(&mut out, &node);
        out
    }

    fn render_counters(&self, out: &mut String, node: &str) {
        let get = |a: &AtomicU64| a.load(Relaxed);
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let sep = if labels.is_empty() { "" } else { "," };
                let _ = writeln!(out, "{name}{{node=\"{node}\"{sep}{labels}}} {v}");
            }
        };
        counter(
            "ratelimiter_decisions_total",
            "Decisions by result: allowed and denied with Redis, and failure-mode decisions.",
            &[
                ("result=\"allowed\"", get(&self.allowed)),
                ("result=\"denied\"", get(&self.denied)),
                ("result=\"failure_open_allowed\"", get(&self.failure_open)),
                (
                    "result=\"failure_closed_denied\"",
                    get(&self.failure_closed),
                ),
                (
                    "result=\"failure_local_allowed\"",
                    get(&self.failure_local_allowed),
                ),
                (
                    "result=\"failure_local_denied\"",
                    get(&self.failure_local_denied),
                ),
            ],
        );
        counter(
            "ratelimiter_near_limit_total",
            "Allowed decisions that used at least 80% of the reported window.",
            &[("", get(&self.near_limit))],
        );
        counter(
            "ratelimiter_redis_errors_total",
            "Failed Redis calls by kind.",
            &[
                ("kind=\"error\"", get(&self.redis_errors)),
                ("kind=\"timeout\"", get(&self.redis_timeouts)),
            ],
        );
        counter(
            "ratelimiter_redis_skipped_total",
            "Decisions that did not call Redis because it kept failing (circuit open).",
            &[("", get(&self.redis_skipped))],
        );
        counter(
            "ratelimiter_script_reloads_total",
            "Scripts sent again with their body after a Redis node answered NOSCRIPT, by result.",
            &[
                (
                    "result=\"ok\"",
                    get(&self.script_reloads).saturating_sub(get(&self.script_reload_failures)),
                ),
                ("result=\"failed\"", get(&self.script_reload_failures)),
            ],
        );
        counter(
            "ratelimiter_policy_reloads_total",
            "Policy loads from Redis.",
            &[("", get(&self.policy_reloads))],
        );
    }

    /// Abuse counters: every label set is fixed (`reason`, `result`), so cardinality stays
    /// bounded whatever the clients do; clients themselves are only in `/v1/node`.
    fn render_abuse(&self, out: &mut String, node: &str) {
        let get = |a: &AtomicU64| a.load(Relaxed);
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let sep = if labels.is_empty() { "" } else { "," };
                let _ = writeln!(out, "{name}{{node=\"{node}\"{sep}{labels}}} {v}");
            }
        };
        counter(
            "ratelimiter_abuse_blocked_requests_total",
            "Requests refused with client_blocked (the client was blocked by any node).",
            &[("", get(&self.abuse_blocked_requests))],
        );
        counter(
            "ratelimiter_abuse_blocks_total",
            "Clients this node blocked, by reason.",
            &[
                (
                    "reason=\"enumeration\"",
                    get(&self.abuse_blocks_enumeration),
                ),
                ("reason=\"honeypot\"", get(&self.abuse_blocks_honeypot)),
            ],
        );
        counter(
            "ratelimiter_abuse_honeypot_hits_total",
            "Requests that used a honeypot key.",
            &[("", get(&self.abuse_honeypot_hits))],
        );
        counter(
            "ratelimiter_abuse_memory_guard_decisions_total",
            "Decisions of keys without a counter taken in process while Redis was near maxmemory.",
            &[
                ("result=\"allowed\"", get(&self.memory_guard_allowed)),
                ("result=\"denied\"", get(&self.memory_guard_denied)),
            ],
        );
        let _ = writeln!(
            out,
            "# HELP ratelimiter_abuse_memory_guard_active 1 while the memory guard is on.\n# TYPE ratelimiter_abuse_memory_guard_active gauge\nratelimiter_abuse_memory_guard_active{{node=\"{node}\"}} {}",
            u8::from(self.memory_guard_active.load(Relaxed))
        );
        let skew = self.clock_skew_ms.load(Relaxed);
        if skew != i64::MIN {
            let _ = writeln!(
                out,
                "# HELP ratelimiter_clock_skew_seconds The node's clock (the local failure mode's) minus Redis TIME.\n# TYPE ratelimiter_clock_skew_seconds gauge\nratelimiter_clock_skew_seconds{{node=\"{node}\"}} {}",
                skew as f64 / 1e3
            );
        }
    }

    /// The clock skew last measured, if any.
    pub fn clock_skew(&self) -> Option<i64> {
        Some(self.clock_skew_ms.load(Relaxed)).filter(|&s| s != i64::MIN)
    }

    fn render_gauges(&self, out: &mut String, node: &str, policy_version: u64, up_nodes: usize) {
        let mut gauge = |name: &str, help: &str, v: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{node=\"{node}\"}} {v}"
            );
        };
        gauge(
            "ratelimiter_redis_up",
            "1 when the last Redis call succeeded.",
            f64::from(u8::from(self.redis_ok.load(Relaxed))),
        );
        let rtt = self.redis_rtt_us.load(Relaxed);
        if rtt != u64::MAX {
            gauge(
                "ratelimiter_redis_rtt_seconds",
                "Last measured Redis round trip.",
                rtt as f64 / 1e6,
            );
        }
        gauge(
            "ratelimiter_policy_version",
            "Version of the policies loaded.",
            policy_version as f64,
        );
        gauge(
            "ratelimiter_up_nodes",
            "Nodes Up in the registry, as last seen.",
            up_nodes as f64,
        );
    }
}

impl Histogram {
    /// The `ratelimiter_decision_duration_seconds` histogram: cumulative buckets, sum and count.
    fn render(&self, out: &mut String, node: &str) {
        let get = |a: &AtomicU64| a.load(Relaxed);
        let _ = writeln!(
            out,
            "# HELP ratelimiter_decision_duration_seconds Time to decide one request, Redis included."
        );
        let _ = writeln!(
            out,
            "# TYPE ratelimiter_decision_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += get(&self.counts[i]);
            let _ = writeln!(
                out,
                "ratelimiter_decision_duration_seconds_bucket{{node=\"{node}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += get(&self.counts[BUCKETS.len()]);
        let _ = writeln!(
            out,
            "ratelimiter_decision_duration_seconds_bucket{{node=\"{node}\",le=\"+Inf\"}} {cumulative}"
        );
        let sum = get(&self.sum_ns) as f64 / 1e9;
        let _ = writeln!(
            out,
            "ratelimiter_decision_duration_seconds_sum{{node=\"{node}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "ratelimiter_decision_duration_seconds_count{{node=\"{node}\"}} {cumulative}"
        );
    }
}

/// The `ratelimiter_limiter_mode` gauge of node `node` (already escaped): 1 for the mode it
/// decides in (`--limiter-mode`), so a dashboard or alert can tell a node in a teaching mode
/// (`naive`, `memory`: not exact) from an exact one.
pub fn render_limiter_mode(out: &mut String, node: &str, mode: LimiterMode) {
    let _ = writeln!(
        out,
        "# HELP ratelimiter_limiter_mode 1 for how this node decides: atomic (exact), naive or memory (teaching modes, not exact).\n# TYPE ratelimiter_limiter_mode gauge\nratelimiter_limiter_mode{{node=\"{node}\",mode=\"{mode}\"}} 1"
    );
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::new();
        m.allowed.fetch_add(3, Relaxed);
        m.count_failure(FailureMode::Local, false);
        m.observe_latency(Duration::from_micros(50));
        m.observe_latency(Duration::from_millis(3));
        m.observe_latency(Duration::from_secs(10));
        let text = m.render("n\"1", 7, 2);
        assert!(
            text.contains("ratelimiter_decisions_total{node=\"n\\\"1\",result=\"allowed\"} 3"),
            "{text}"
        );
        assert!(text.contains("result=\"failure_local_denied\"} 1"));
        assert!(text.contains(
            "ratelimiter_decision_duration_seconds_bucket{node=\"n\\\"1\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains("le=\"0.005\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("ratelimiter_decision_duration_seconds_count{node=\"n\\\"1\"} 3"));
        assert!(text.contains("ratelimiter_policy_version{node=\"n\\\"1\"} 7"));
        assert!(!text.contains("redis_rtt"), "no round trip measured yet");
        assert!(!text.contains("clock_skew"), "no skew measured yet");
    }

    #[test]
    fn renders_the_limiter_mode_as_a_labelled_gauge() {
        let mut text = String::new();
        render_limiter_mode(&mut text, "n", LimiterMode::Naive);
        assert!(
            text.contains("\nratelimiter_limiter_mode{node=\"n\",mode=\"naive\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE ratelimiter_limiter_mode gauge"));
    }

    #[test]
    fn renders_abuse_counters_with_fixed_labels() {
        let m = Metrics::new();
        m.abuse_blocks_enumeration.fetch_add(2, Relaxed);
        m.memory_guard_denied.fetch_add(5, Relaxed);
        m.clock_skew_ms.store(-1500, Relaxed);
        let text = m.render("n", 1, 1);
        assert!(
            text.contains("ratelimiter_abuse_blocks_total{node=\"n\",reason=\"enumeration\"} 2")
        );
        assert!(text.contains("ratelimiter_abuse_blocks_total{node=\"n\",reason=\"honeypot\"} 0"));
        assert!(text.contains(
            "ratelimiter_abuse_memory_guard_decisions_total{node=\"n\",result=\"denied\"} 5"
        ));
        assert!(text.contains("ratelimiter_abuse_memory_guard_active{node=\"n\"} 0"));
        assert!(
            text.contains("ratelimiter_clock_skew_seconds{node=\"n\"} -1.5"),
            "{text}"
        );
    }
}
