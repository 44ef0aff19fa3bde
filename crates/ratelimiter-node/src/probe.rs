//! A one-shot HTTP probe, so a container can check the node's health with the node binary itself
//! (minimal images have no `curl`): `ratelimiter-node --probe http://127.0.0.1:8080/readyz`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("probe URL must be http://host[:port][/path], got {0:?}")]
    Url(String),
    /// Connecting, sending or reading failed.
    #[error("probe of {url} failed: {source}")]
    Io {
        /// The URL probed.
        url: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The answer was not a 2xx.
    #[error("probe of {url} answered {status}")]
    Status {
        /// The URL probed.
        url: String,
        /// The status line's code (0 when unreadable).
        status: u16,
    },
}

/// GETs `url` once, within `timeout` for each step, and succeeds on a 2xx answer.
///
/// # Errors
/// [`ProbeError`] describing what failed.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ProbeError::Url(url.to_owned()))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    if authority.is_empty() {
        return Err(ProbeError::Url(url.to_owned()));
    }
    let target = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let io = |source| ProbeError::Io {
        url: url.to_owned(),
        source,
    };
    let addr = target
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ProbeError::Url(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(io)?;
    let status = std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(ProbeError::Status {
            url: url.to_owned(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_it_cannot_probe() {
        for bad in ["https://x/readyz", "ftp://x", "http://", "127.0.0.1:8080"] {
            assert!(
                matches!(
                    probe(bad, Duration::from_millis(100)),
                    Err(ProbeError::Url(_))
                ),
                "{bad}"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = probe(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_millis(200),
        );
        assert!(matches!(refused, Err(ProbeError::Io { .. })), "{refused:?}");
    }
}
