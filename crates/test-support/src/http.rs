//! A minimal blocking HTTP/1.1 client for 127.0.0.1, enough to probe and drive a node from any
//! test without an async runtime.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A `GET` of `path` on 127.0.0.1:`port`: `(status, body)`.
///
/// # Errors
/// I/O errors, or a response that is not HTTP.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    request(port, "GET", path, None)
}

/// A request with an optional JSON body on 127.0.0.1:`port`: `(status, body)`.
///
/// # Errors
/// I/O errors, or a response that is not HTTP.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    request_with(port, method, path, json, &[])
}

/// [`request`] with extra headers, e.g. `("Authorization", "Bearer ...")` for a node's `/v1/*`
/// management endpoints when it runs with an admin token.
///
/// # Errors
/// I/O errors, or a response that is not HTTP.
pub fn request_with(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = json.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if json.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {raw:?}")))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
