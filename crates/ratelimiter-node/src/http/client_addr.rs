//! Who the client is: the TCP peer, or, when the peer is a trusted proxy, the address the proxies
//! say they were called from.
//!
//! A proxy appends the address it was called from to `X-Forwarded-For` (or adds a `for=` element
//! to the RFC 7239 `Forwarded` header), so entries to the right were written by proxies nearer to
//! this node and entries to the left came from further away, the leftmost ones possibly from the
//! client itself. Walking from the right, every entry that is a trusted proxy is skipped; the first
//! one that is not is the address a trusted proxy saw calling it: the client. Anything further left
//! is whatever the client chose to send, and is never believed.
//!
//! - Untrusted peer (or no trusted proxies configured): the headers are ignored, the peer is the
//!   client. A forged `X-Forwarded-For` changes nothing.
//! - `X-Forwarded-For` present: it is used (all its header lines, in order); `Forwarded` is read
//!   only without it.
//! - Every entry trusted: the leftmost one (the request started inside the trusted network).
//! - An entry that is not an address (`unknown`, an obfuscated `_name`, garbage) stops the walk:
//!   the client is then the last address read (a trusted proxy), or the peer if there is none.
//!   Bad headers never fail the request.
//!
//! Addresses are compared in canonical form: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a
//! dual-stack listener reports IPv4 peers) is the IPv4 address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::FORWARDED;
use ipnet::IpNet;

/// The `X-Forwarded-For` header name.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Most entries read from the forwarding headers; a longer chain stops there (as a bad entry
/// would), so a huge header costs bounded work.
const MAX_HOPS: usize = 32;

/// The client's address for a request from `peer` with `headers`, believing the forwarding
/// headers only from `trusted` proxies (see the module doc).
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let entries: Vec<&str> = if headers.contains_key(X_FORWARDED_FOR) {
        header_items(headers, X_FORWARDED_FOR, ',')
    } else {
        header_items(headers, FORWARDED.as_str(), ',')
            .into_iter()
            .map(forwarded_for)
            .collect()
    };
    let mut last = peer;
    for entry in entries.iter().rev().take(MAX_HOPS) {
        let Some(addr) = parse_node(entry) else {
            return last;
        };
        if !is_trusted(trusted, addr) {
            return addr;
        }
        last = addr;
    }
    last
}

/// Whether `addr` is in one of the `trusted` networks.
pub fn is_trusted(trusted: &[IpNet], addr: IpAddr) -> bool {
    let addr = addr.to_canonical();
    trusted.iter().any(|net| net.contains(&addr))
}

/// The `sep`-separated items of every `name` header line, in order; a line that is not visible
/// ASCII gives one empty item (an entry that stops the walk).
fn header_items<'h>(headers: &'h HeaderMap, name: &str, sep: char) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(sep))
        .map(str::trim)
        .collect()
}

/// The `for=` value of one `Forwarded` element (`for=1.2.3.4;proto=https`), unquoted; an element
/// without `for=` gives an empty value (it stops the walk, as an unknown hop would).
fn forwarded_for(element: &str) -> &str {
    let value = element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
        .map_or("", |(_, v)| v.trim());
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// One hop as an address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:5678`; `None` for anything else.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|v6| IpAddr::V6(v6).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const LB: &str = "10.0.0.2";

    /// (why, peer, headers, expected client)
    type Case<'a> = (&'a str, &'a str, &'a [(&'static str, &'a str)], &'a str);
    const TRUSTED: &[&str] = &["10.0.0.0/24", "fd00::/8"];

    #[test]
    fn table() {
        let xff = "x-forwarded-for";
        let fwd = "forwarded";
        let cases: &[Case<'_>] = &[
            (
                "untrusted peer: xff ignored",
                "1.2.3.4",
                &[(xff, "9.9.9.9")],
                "1.2.3.4",
            ),
            (
                "untrusted peer: forwarded ignored",
                "1.2.3.4",
                &[(fwd, "for=9.9.9.9")],
                "1.2.3.4",
            ),
            ("trusted peer, no headers: peer", LB, &[], LB),
            (
                "trusted peer: the one entry",
                LB,
                &[(xff, "1.2.3.4")],
                "1.2.3.4",
            ),
            (
                "forged left part ignored",
                LB,
                &[(xff, "6.6.6.6, 1.2.3.4")],
                "1.2.3.4",
            ),
            (
                "trusted hops skipped",
                LB,
                &[(xff, "6.6.6.6, 1.2.3.4, 10.0.0.7")],
                "1.2.3.4",
            ),
            (
                "all trusted: leftmost",
                LB,
                &[(xff, "10.0.0.9, 10.0.0.7")],
                "10.0.0.9",
            ),
            (
                "several header lines in order",
                LB,
                &[(xff, "6.6.6.6"), (xff, "1.2.3.4")],
                "1.2.3.4",
            ),
            ("entry with port", LB, &[(xff, "1.2.3.4:5555")], "1.2.3.4"),
            ("ipv6 entry", LB, &[(xff, "2001:db8::1")], "2001:db8::1"),
            (
                "bracketed ipv6 with port",
                LB,
                &[(xff, "[2001:db8::1]:443")],
                "2001:db8::1",
            ),
            ("garbage: peer", LB, &[(xff, "not an ip")], LB),
            (
                "garbage left of client: client",
                LB,
                &[(xff, "garbage, 1.2.3.4")],
                "1.2.3.4",
            ),
            (
                "garbage after trusted: last trusted",
                LB,
                &[(xff, "garbage, 10.0.0.7")],
                "10.0.0.7",
            ),
            ("empty xff: peer", LB, &[(xff, "")], LB),
            (
                "xff wins over forwarded",
                LB,
                &[(xff, "1.2.3.4"), (fwd, "for=5.5.5.5")],
                "1.2.3.4",
            ),
            (
                "forwarded for",
                LB,
                &[(fwd, "for=1.2.3.4;proto=https")],
                "1.2.3.4",
            ),
            (
                "forwarded case and spaces",
                LB,
                &[(fwd, "proto=http; For=1.2.3.4")],
                "1.2.3.4",
            ),
            (
                "forwarded quoted v6 port",
                LB,
                &[(fwd, "for=\"[2001:db8::17]:4711\"")],
                "2001:db8::17",
            ),
            (
                "forwarded quoted v4 port",
                LB,
                &[(fwd, "for=\"1.2.3.4:80\"")],
                "1.2.3.4",
            ),
            (
                "forwarded list",
                LB,
                &[(fwd, "for=6.6.6.6, for=1.2.3.4, for=10.0.0.3")],
                "1.2.3.4",
            ),
            ("forwarded unknown: peer", LB, &[(fwd, "for=unknown")], LB),
            (
                "forwarded obfuscated: peer",
                LB,
                &[(fwd, "for=_hidden")],
                LB,
            ),
            (
                "forwarded without for: peer",
                LB,
                &[(fwd, "proto=https")],
                LB,
            ),
            (
                "forwarded unterminated quote: peer",
                LB,
                &[(fwd, "for=\"1.2.3.4")],
                LB,
            ),
            (
                "mapped v4 peer is trusted",
                "::ffff:10.0.0.2",
                &[(xff, "1.2.3.4")],
                "1.2.3.4",
            ),
            (
                "mapped v4 entry is v4",
                LB,
                &[(xff, "::ffff:1.2.3.4")],
                "1.2.3.4",
            ),
            ("trusted v6 peer", "fd00::1", &[(xff, "1.2.3.4")], "1.2.3.4"),
        ];
        let trusted = nets(TRUSTED);
        for (why, peer, pairs, want) in cases {
            let got = client_addr(ip(peer), &headers(pairs), &trusted);
            assert_eq!(got, ip(want), "{why}");
        }
    }

    #[test]
    fn nothing_trusted_means_the_peer() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_addr(ip(LB), &h, &[]), ip(LB));
    }

    #[test]
    fn non_ascii_header_falls_back_to_the_peer() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
        );
        assert_eq!(client_addr(ip(LB), &h, &nets(TRUSTED)), ip(LB));
    }

    #[test]
    fn a_huge_chain_of_trusted_hops_is_cut_short() {
        let chain = vec!["10.0.0.5"; 10_000].join(",");
        let h = headers(&[("x-forwarded-for", &format!("1.2.3.4,{chain}"))]);
        assert_eq!(client_addr(ip(LB), &h, &nets(TRUSTED)), ip("10.0.0.5"));
    }

    proptest::proptest! {
        /// Any header text: no panic; an untrusted peer is always the client; otherwise the
        /// client is the peer or an address written in the headers.
        #[test]
        fn any_header_text_gives_the_peer_or_an_address_it_holds(
            xff in proptest::option::of("[0-9a-f.:, \\[\\]\"=;_A-Za-z]{0,60}"),
            fwd in proptest::option::of("[0-9a-f.:, \\[\\]\"=;_A-Za-z]{0,60}"),
            trusted_peer in proptest::bool::ANY,
        ) {
            let mut h = HeaderMap::new();
            if let Some(v) = &xff {
                h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
            }
            if let Some(v) = &fwd {
                h.insert("forwarded", HeaderValue::from_str(v).unwrap());
            }
            let peer = if trusted_peer { ip(LB) } else { ip("1.2.3.4") };
            let got = client_addr(peer, &h, &nets(TRUSTED));
            if !trusted_peer {
                proptest::prop_assert_eq!(got, peer);
            } else if got != peer {
                let text = format!("{} {}", xff.unwrap_or_default(), fwd.unwrap_or_default());
                let v4 = got.to_string();
                proptest::prop_assert!(
                    text.contains(&v4) || got.is_ipv6(),
                    "{got} not in {text:?}"
                );
            }
        }
    }
}
