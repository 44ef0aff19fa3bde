//! What `reset_counter` and `repair_stuck_keys` cost on a large keyspace, on a real
//! `redis-server` (started here, stopped on exit):
//!
//! ```text
//! cargo run --release -p operator-ratelimiter --example bounded_actions -- [KEYS] [STUCK]
//! ```
//!
//! Fills Redis with `KEYS` counters (default 1,000,000) with a TTL and `STUCK` keys without one
//! (default 20,000), then times: a reset of one key (names computed from the policies), the
//! full `SCAN MATCH` of that key's counters the reset used to make, and the repair of the stuck
//! keys in batches.

// A measuring program: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use operator_core::Subject;
use operator_ratelimiter::{RateLimitAction, RateLimiterConfig, RateLimiterSubject};
use ratelimiter_schema::keys;
use test_support::RedisServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let stuck: u64 = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let redis = RedisServer::start();
    let policy = r#"{"windows":[{"limit":100,"window_ms":1000},{"limit":1000,"window_ms":60000}]}"#;
    redis.cmd(&[
        "HSET",
        "ratelimit:{shared}:policies",
        "version",
        "1",
        "policy:default",
        policy,
    ]);
    let fill = format!(
        "for i = 1, {total} do redis.call('SET', 'ratelimit:c:{{user:' .. i .. '}}:default:1000', '1', 'EX', 3600) end \
         for i = 1, {stuck} do redis.call('SET', 'ratelimit:junk:' .. i, '1') end return 1"
    );
    let started = Instant::now();
    redis.cmd(&["EVAL", &fill, "0"]);
    println!(
        "filled {total} counters and {stuck} keys without a TTL in {:.1?}",
        started.elapsed()
    );

    let subject = RateLimiterSubject::new(RateLimiterConfig {
        redis_url: redis.url(),
        nodes: vec!["http://127.0.0.1:1".into()],
        redis_timeout: std::time::Duration::from_secs(2),
        ..RateLimiterConfig::default()
    })?;
    let client = redis::Client::open(redis.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pattern = keys::counter_scan_pattern_exact("ratelimit:", "user:42");
    let started = Instant::now();
    let (mut cursor, mut calls, mut found) = (0u64, 0u64, 0usize);
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await?;
        calls += 1;
        found += batch.len();
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    println!(
        "the SCAN the reset used to make: {:.2?}, {calls} SCAN calls over the whole keyspace, {found} match (before the reset)",
        started.elapsed()
    );

    let started = Instant::now();
    let report = subject
        .execute(&RateLimitAction::ResetCounter {
            key: "user:42".into(),
        })
        .await?;
    println!(
        "reset_counter user:42: {:.2?}, {} (checked {} names)",
        started.elapsed(),
        report.summary,
        report.details["checked"]
    );

    let started = Instant::now();
    let report = subject
        .execute(&RateLimitAction::RepairStuckKeys {})
        .await?;
    println!(
        "repair_stuck_keys: {:.2?}, {}; largest batch {}",
        started.elapsed(),
        report.summary,
        report.details["largest_batch"]
    );
    Ok(())
}
