//! An OTLP sink for benchmarks: the tests' in-process receiver as a process, counting what it
//! is sent (`docs/BENCHMARKS.md`, "Tracing overhead").
//!
//! ```sh
//! cargo run --release -p test-support --example otlp-sink -- [grpc|http]
//! ```
//! Prints its endpoint on the first line, then every second the spans received so far, until
//! killed.

#![allow(clippy::print_stdout)] // its output is the point

use std::io::Write as _;
use std::time::Duration;

use test_support::OtlpReceiver;

fn main() {
    let receiver = match std::env::args().nth(1).as_deref() {
        Some("http") => OtlpReceiver::http(),
        _ => OtlpReceiver::grpc(),
    };
    println!("{}", receiver.endpoint());
    let mut total = 0usize;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let got = receiver.drain().len();
        total += got;
        if got > 0 {
            println!("spans received: {total}");
            let _ = std::io::stdout().flush();
        }
    }
}
