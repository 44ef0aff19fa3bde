//! Burst behaviour of the two algorithms, from their pure functions (`algorithm::decide` and
//! `gcra::decide`, which mirror `check.lua` and `gcra.lua` exactly): a greedy client tries one
//! request every millisecond for 10 s against 100 per second, and against the same after 5 s of
//! silence. Deterministic: no Redis, no clock.
//!
//! `cargo run --release -p ratelimiter-node --example burst`

#![allow(clippy::print_stdout)] // the tables are the output

use ratelimiter_node::{algorithm, gcra};
use ratelimiter_schema::Window;

const RUN_MS: u64 = 10_000;
const T0_MS: u64 = 1_700_000_000_000;

/// The ms of every admitted request of a client trying once per ms from `start_ms` to `RUN_MS`.
fn greedy(mut admit: impl FnMut(u64) -> bool, start_ms: u64) -> Vec<u64> {
    (start_ms..RUN_MS).filter(|&ms| admit(T0_MS + ms)).collect()
}

/// The most admissions within any `span` ms (a half-open stretch `[t, t + span)`).
fn max_in_span(times: &[u64], span: u64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= span {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn report(name: &str, times: &[u64]) {
    let first = times.iter().filter(|&&t| t < times[0] + 1000).count();
    println!(
        "| {name} | {} | {first} | {} | {:.1} |",
        times.len(),
        max_in_span(times, 1000),
        times.len() as f64 / ((RUN_MS - times[0]) as f64 / 1000.0),
    );
}

fn main() {
    let window = Window::new(100, 1000);
    // Starting at 0 ms the client meets a fresh fixed window; starting at 900 ms it meets the
    // last tenth of one, the sliding window's worst case.
    for start in [0, 900] {
        println!();
        println!("greedy client from {start} ms (fixed windows start at whole seconds):");
        println!();
        println!(
            "| algorithm (100 per 1 s) | admitted | in its first second | most in any 1 s | per second since its first admission |"
        );
        println!("|---|---|---|---|---|");
        let mut counters = [algorithm::Counter::default()];
        let sliding = greedy(
            |now| algorithm::decide(&mut counters, &[window], 1, now).allowed,
            start,
        );
        report("sliding_window", &sliding);
        for burst in [100, 10, 1] {
            let w = window.with_burst(burst);
            let mut tats = [0];
            let times = greedy(
                |now| gcra::decide(&mut tats, &[w], 1, now * 1000).allowed,
                start,
            );
            report(&format!("gcra, burst {burst}"), &times);
        }
    }
}
