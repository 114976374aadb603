//! The client's address behind trusted proxies. A TLS-terminating proxy or load balancer
//! connects on the client's behalf: without this every client behind it shares one
//! address (one failure throttle, and API-key allowlists that see only the proxy).
//!
//! Forwarding headers are believed only from configured proxy addresses, and read right to
//! left: each trusted hop vouches for the one before it, so the first untrusted address
//! from the right is the client. A client can write anything to the left of it, which is
//! why nothing further left is ever read. `Forwarded` (RFC 7239) is preferred over
//! `X-Forwarded-For` when both are present.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Most hops read from a forwarding header: a longer chain is an attack or a loop.
const MAX_HOPS: usize = 16;

/// Where requests come from: the proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self { networks }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer` itself unless `peer` is a trusted proxy, then the
    /// first untrusted hop from the right of the forwarding header (the leftmost hop if
    /// all are trusted). An unreadable header from a trusted proxy leaves `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        let Some(hops) = forwarded(headers).or_else(|| x_forwarded_for(headers)) else {
            return canonical(peer);
        };
        let mut client = canonical(peer);
        for hop in hops.into_iter().rev() {
            client = canonical(hop);
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as a dual-stack listener reports IPv4 peers) as
/// the IPv4 address it is, so allowlists and throttles see one address, not two.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Every value of a header, joined as one comma-separated list (RFC 9110 §5.3).
fn header_list(headers: &HeaderMap, name: &str) -> Option<Vec<String>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?;
        items.extend(text.split(',').map(|s| s.trim().to_string()));
        if items.len() > MAX_HOPS {
            return None;
        }
    }
    (!items.is_empty()).then_some(items)
}

/// `Forwarded: for=192.0.2.1, for="[2001:db8::1]:443";proto=https`. A hop that is not an
/// address (`unknown`, an obfuscated name) makes the header unusable.
fn forwarded(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    header_list(headers, "forwarded")?
        .iter()
        .map(|element| {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            })?;
            parse_node(node.trim_matches('"'))
        })
        .collect()
}

/// `X-Forwarded-For: 192.0.2.1, 198.51.100.7`.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    header_list(headers, "x-forwarded-for")?
        .iter()
        .map(|hop| parse_node(hop))
        .collect()
}

/// An address, with an optional port: `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]:443`,
/// `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        h
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("net")])
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(proxies().client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        // The client forged a first hop; the proxy appended the real one.
        let h = headers(&[("x-forwarded-for", "127.0.0.1, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let h = headers(&[
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_is_read_and_preferred() {
        let h = headers(&[
            ("forwarded", r#"for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711""#),
            ("x-forwarded-for", "198.51.100.5"),
        ]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=192.0.2.43:8080;by=10.0.0.1")]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &h), ip("192.0.2.43"));
    }

    #[test]
    fn unreadable_or_overlong_headers_leave_the_peer() {
        let p = proxies();
        for bad in ["unknown", "not-an-ip", "for=_hidden", ""] {
            let h = headers(&[("forwarded", bad)]);
            assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"), "{bad:?}");
        }
        let long = vec!["203.0.113.1"; MAX_HOPS + 1].join(",");
        let h = headers(&[("x-forwarded-for", long.as_str())]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn a_chain_of_trusted_hops_yields_its_leftmost() {
        let h = headers(&[("x-forwarded-for", "10.2.2.2, 10.3.3.3")]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &h), ip("10.2.2.2"));
    }

    #[test]
    fn mapped_ipv6_peers_are_their_ipv4_address() {
        let h = HeaderMap::new();
        assert_eq!(
            proxies().client(ip("::ffff:10.0.0.1"), &h),
            ip("10.0.0.1")
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            proxies().client(ip("::ffff:10.0.0.1"), &h),
            ip("203.0.113.9"),
            "a mapped proxy address is trusted as its IPv4 network"
        );
    }
}
