//! Where a webhook may be sent: public internet addresses only, plus any private network
//! the operator lists (tests, the demo, a receiver on premises). A tenant's URL must not
//! turn the dispatcher into a probe of the network it runs in (loopback services, the
//! cloud metadata endpoint, the LAN). Checked when a subscription is created (an address
//! literal or a localhost name in its URL) and again for every request: each literal host,
//! and every address a name resolves to at connect time, so a name that resolves inside
//! later (DNS rebinding) and a row stored before these checks are refused alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A request not sent because its destination is not a public address. The text is what
/// the delivery log shows: fixed, so it says nothing about the network behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("destination refused: not a public address")]
pub struct DestinationRefused;

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix_len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix_len)
}

const fn v6(segments: [u16; 8], prefix_len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix_len)
}

/// IPv4 networks that are not the public internet (IANA's special-purpose registry).
const REFUSED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),       // "this network", 0.0.0.0 among it
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // carrier-grade NAT
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, the cloud metadata endpoint among it
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast, deprecated
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, the broadcast 255.255.255.255 among it
];

/// IPv6 networks that are not the public internet, checked before any embedded IPv4
/// address (`::` and `::1` lie inside the IPv4-compatible range).
const REFUSED_V6: &[Ipv6Net] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128),         // unspecified
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128),         // loopback
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // local-use NAT64
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard-only
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),     // IETF protocol assignments: Teredo, benchmarking
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique-local
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local, deprecated
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
];

/// IPv6 forms that carry an IPv4 address in their last 32 bits and reach that host.
const EMBEDDING_V4_LAST: &[Ipv6Net] = &[
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),    // IPv4-mapped
    v6([0, 0, 0, 0, 0, 0, 0, 0], 96),         // IPv4-compatible, deprecated
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64
];

/// 6to4: the IPv4 address in bits 16..48.
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// The only IPv6 space allocated for global unicast; the rest is reserved.
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !REFUSED_V4.iter().any(|net| net.contains(&ip))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if REFUSED_V6.iter().any(|net| net.contains(&ip)) {
        return false;
    }
    if let Some(embedded) = embedded_v4(ip) {
        return is_public_v4(embedded);
    }
    GLOBAL_UNICAST.contains(&ip)
}

/// The IPv4 address an IPv6 form stands for, if it is one of those forms.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if EMBEDDING_V4_LAST.iter().any(|net| net.contains(&ip)) {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if SIX_TO_FOUR.contains(&ip) {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// Whether a webhook may be sent to `ip`: a public address, or one inside a network the
/// operator allowed. An IPv4-mapped IPv6 address counts as its IPv4 address, the host it
/// reaches.
pub fn permitted(ip: IpAddr, allowed_private_networks: &[IpNet]) -> bool {
    if is_public(ip) {
        return true;
    }
    let as_v4 = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    allowed_private_networks
        .iter()
        .any(|net| net.contains(&ip) || as_v4.is_some_and(|v4| net.contains(&v4)))
}

/// `localhost` and its subdomains (RFC 6761): loopback by definition, whatever DNS says.
pub(crate) fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A URL's host as the request sees it: an address literal, or a name to resolve.
pub(crate) enum Host<'a> {
    Address(IpAddr),
    Name(&'a str),
}

/// The host of a parsed URL. The WHATWG parser has already normalised IPv4 in any
/// spelling (`2130706433`, `0x7f.1`) to dotted decimal, so the text parses as an address
/// exactly when the request would go to one.
pub(crate) fn host_of(url: &reqwest::Url) -> Option<Host<'_>> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(match bare.parse::<IpAddr>() {
        Ok(ip) => Host::Address(ip),
        Err(_) => Host::Name(host),
    })
}

/// Whether a URL's address literal may be reached; names pass (they are checked when
/// resolved). No host: refused, there is nothing to check.
pub(crate) fn check_literal_host(
    url: &reqwest::Url,
    allowed_private_networks: &[IpNet],
) -> Result<(), DestinationRefused> {
    match host_of(url) {
        Some(Host::Address(ip)) if permitted(ip, allowed_private_networks) => Ok(()),
        Some(Host::Name(_)) => Ok(()),
        _ => Err(DestinationRefused),
    }
}

/// Whether a URL's host may be subscribed: an address literal must be permitted, and a
/// localhost name is taken for the loopback addresses it means.
pub(crate) fn check_subscribed_host(
    url: &reqwest::Url,
    allowed_private_networks: &[IpNet],
) -> Result<(), DestinationRefused> {
    match host_of(url) {
        Some(Host::Name(name)) if is_localhost_name(name) => {
            let loopback = [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
            if loopback
                .iter()
                .any(|ip| permitted(*ip, allowed_private_networks))
            {
                Ok(())
            } else {
                Err(DestinationRefused)
            }
        }
        _ => check_literal_host(url, allowed_private_networks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn internal_and_special_addresses_are_not_public() {
        for refused in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "2001:2::1",
            "2001::1",
            "100::1",
            "64:ff9b:1::1",
            // IPv4 in IPv6 clothing.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "2002:a00:1::1",
            // Not allocated for global unicast.
            "4000::1",
            "e000::1",
        ] {
            assert!(!is_public(ip(refused)), "{refused} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_public_in_every_form() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "9.9.9.9",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "::ffff:1.1.1.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(public)), "{public} must be allowed");
        }
    }

    #[test]
    fn a_listed_private_network_is_permitted_and_nothing_else() {
        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().expect("net")];
        assert!(!permitted(ip("127.0.0.1"), &[]));
        assert!(permitted(ip("127.0.0.1"), &loopback));
        assert!(
            permitted(ip("::ffff:127.0.0.1"), &loopback),
            "the same host"
        );
        assert!(!permitted(ip("::1"), &loopback));
        assert!(!permitted(ip("10.0.0.1"), &loopback));
        assert!(!permitted(ip("169.254.169.254"), &loopback));
        assert!(permitted(ip("1.1.1.1"), &[]));
    }

    #[test]
    fn localhost_names_are_loopback() {
        for name in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "a.localhost",
            "x.y.localhost.",
        ] {
            assert!(is_localhost_name(name), "{name}");
        }
        for name in [
            "localhost.example.com",
            "notlocalhost",
            "example.com",
            "local",
        ] {
            assert!(!is_localhost_name(name), "{name}");
        }
    }

    #[test]
    fn literal_hosts_are_read_after_url_normalisation() {
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        for refused in [
            "https://2130706433/x",
            "https://0x7f.1/x",
            "https://0177.0.0.1/x",
            "https://[::ffff:7f00:1]/x",
            "https://[0:0:0:0:0:0:0:1]/x",
        ] {
            assert_eq!(
                check_literal_host(&url(refused), &[]),
                Err(DestinationRefused),
                "{refused}"
            );
        }
        assert!(check_literal_host(&url("https://1.1.1.1/x"), &[]).is_ok());
        assert!(check_literal_host(&url("https://hooks.example.com/x"), &[]).is_ok());
        assert!(check_subscribed_host(&url("https://localhost:9/x"), &[]).is_err());
        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().expect("net")];
        assert!(check_subscribed_host(&url("https://localhost:9/x"), &loopback).is_ok());
    }
}
