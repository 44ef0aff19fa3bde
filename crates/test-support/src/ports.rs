//! Free loopback ports.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::wait::wait_for;

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `n` distinct TCP ports on 127.0.0.1 that were free a moment ago (all held open together while
/// they are picked, so no two are the same).
///
/// # Panics
/// When no port can be bound.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`; whether it did within
/// `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    wait_for(timeout, || TcpStream::connect(("127.0.0.1", port)).is_ok())
}
