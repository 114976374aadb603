//! The client's address behind trusted proxies. A TLS-terminating proxy or load balancer
//! connects on the client's behalf: without this every client behind it shares one
//! address (one failure throttle, and API-key allowlists that see only the proxy).
//!
//! Only the one header the operator names (`X-Forwarded-For` by default, or `Forwarded`)
//! is read, only from configured proxy addresses, and right to left: each trusted hop
//! vouches for the one before it, so the first untrusted address from the right is the
//! client, and nothing further left (what the client wrote itself) is even parsed. Reading
//! a second header as a fallback would let a client write the one the proxy does not.
//! A header from a trusted proxy that cannot be read up to the client gives **no**
//! address: allowlisted keys then fail closed, rather than the proxy's own (internal)
//! address passing an allowlist.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Most hops walked from the right: a longer chain of trusted proxies is a loop.
const MAX_HOPS: usize = 16;

/// Which header the proxies in front write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx, HAProxy, AWS ALB).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

/// Where requests come from: the proxies whose forwarding header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { networks, header }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer` itself unless `peer` is a trusted proxy; then the
    /// first untrusted hop from the right of the forwarding header (the leftmost if all are
    /// trusted), `peer` if the proxy sent no such header (a request of its own), and
    /// `None` if the header cannot be read as far as the client.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return Some(peer);
        }
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let mut values = headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            return Some(peer);
        }
        // Every value joined as one list (RFC 9110 §5.3), walked from the right.
        let mut hops = Vec::new();
        for value in values {
            hops.extend(value.to_str().ok()?.split(',').map(str::trim));
        }
        for hop in hops.iter().rev().take(MAX_HOPS) {
            let address = match self.header {
                ForwardedHeader::XForwardedFor => parse_node(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop),
            }?;
            let address = canonical(address);
            if !self.trusts(address) {
                return Some(address);
            }
        }
        // All trusted: the leftmost walked, if the chain ended within the bound.
        (hops.len() <= MAX_HOPS)
            .then(|| {
                hops.first().and_then(|h| match self.header {
                    ForwardedHeader::XForwardedFor => parse_node(h),
                    ForwardedHeader::Forwarded => forwarded_for(h),
                })
            })
            .flatten()
            .map(canonical)
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

/// The `for=` node of one `Forwarded` element, e.g. `for="[2001:db8::1]:443";proto=https`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    parse_node(node.trim_matches('"'))
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

    fn proxies(header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("net")], header)
    }

    fn xff() -> TrustedProxies {
        proxies(ForwardedHeader::XForwardedFor)
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            xff().client(ip("198.51.100.1"), &h),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &h),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        // The client forged a first hop; the proxy appended the real one.
        let h = headers(&[("x-forwarded-for", "127.0.0.1, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), Some(ip("203.0.113.9")));
        let h = headers(&[
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), Some(ip("203.0.113.9")));
        // Junk the client wrote to the left of its own address is never parsed.
        let h = headers(&[("x-forwarded-for", "unknown, not-an-ip, 203.0.113.9")]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), Some(ip("203.0.113.9")));
        let long = format!("{}, 203.0.113.9", vec!["198.51.100.1"; 40].join(","));
        let h = headers(&[("x-forwarded-for", long.as_str())]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), Some(ip("203.0.113.9")));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // The proxy writes X-Forwarded-For; a client-written Forwarded is not believed.
        let h = headers(&[
            ("forwarded", "for=10.9.9.9"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), Some(ip("203.0.113.9")));
        let fwd = proxies(ForwardedHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711""#,
        )]);
        assert_eq!(
            fwd.client(ip("10.0.0.1"), &h),
            Some(ip("2001:db8:cafe::17"))
        );
        // And no fallback: an unreadable Forwarded never makes X-Forwarded-For count.
        let h = headers(&[
            ("forwarded", "for=unknown"),
            ("x-forwarded-for", "10.9.9.9"),
        ]);
        assert_eq!(fwd.client(ip("10.0.0.1"), &h), None);
    }

    #[test]
    fn an_unreadable_right_end_gives_no_address_never_the_proxys() {
        for bad in ["unknown", "not-an-ip", "_hidden", ""] {
            let h = headers(&[("x-forwarded-for", bad)]);
            assert_eq!(xff().client(ip("10.0.0.1"), &h), None, "{bad:?}");
        }
        let chain = vec!["10.2.2.2"; MAX_HOPS + 1].join(",");
        let h = headers(&[("x-forwarded-for", chain.as_str())]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), None, "a loop of proxies");
        // No header at all from the proxy: its own request.
        assert_eq!(
            xff().client(ip("10.0.0.1"), &HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_chain_of_trusted_hops_yields_its_leftmost() {
        let h = headers(&[("x-forwarded-for", "10.2.2.2, 10.3.3.3")]);
        assert_eq!(xff().client(ip("10.0.0.1"), &h), Some(ip("10.2.2.2")));
    }

    #[test]
    fn mapped_ipv6_peers_are_their_ipv4_address() {
        assert_eq!(
            xff().client(ip("::ffff:10.0.0.1"), &HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            xff().client(ip("::ffff:10.0.0.1"), &h),
            Some(ip("203.0.113.9")),
            "a mapped proxy address is trusted as its IPv4 network"
        );
    }
}
