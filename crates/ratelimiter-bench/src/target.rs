//! Load targets: the `http://host:port` base URLs of the nodes, read as the address to connect to.

use crate::error::LoadError;

/// The `host:port` to connect to for the base URL `http://host:port[/]`.
pub(crate) fn parse_target(url: &str) -> Result<String, LoadError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| LoadError::Target(url.to_owned()))?;
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() || hostport.contains('/') || !hostport.contains(':') {
        return Err(LoadError::Target(url.to_owned()));
    }
    Ok(hostport.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_plain_http_host_port() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(parse_target("http://localhost:1/").unwrap(), "localhost:1");
        for bad in [
            "127.0.0.1:8080",
            "https://x:1",
            "http://x",
            "http://x:1/path",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
