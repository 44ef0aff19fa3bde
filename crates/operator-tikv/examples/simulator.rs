//! Runs the PD and Prometheus simulator until Ctrl-C, to try `operator monitor --subject tikv`
//! without a cluster:
//!
//! ```text
//! cargo run -p operator-tikv --features simulator --example simulator
//! operator monitor --subject tikv --pd <PD URL> --prometheus <Prometheus URL> --once
//! ```
//!
//! With the argument `degraded`, store 4 is Disconnected, store 5's disk is 95 % full, store 1's
//! p99 is 900 ms and PD member pd3 fails its health check.

#![allow(clippy::print_stdout)] // an example prints where to connect

use std::time::Duration;

use operator_tikv::simulator::Simulator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = Simulator::start().await?;
    if std::env::args().any(|a| a == "degraded") {
        sim.set_store_state(4, "Disconnected");
        sim.set_available_fraction(5, 0.05);
        sim.set_p99(1, Some(Duration::from_millis(900)));
        sim.set_member_health("pd3", false);
    }
    println!("PD:         {}", sim.pd_url());
    println!("Prometheus: {}", sim.prometheus_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
