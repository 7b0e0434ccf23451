//! Who the client is behind proxies: `server.trusted_proxies` decides whose forwarding headers
//! count, and `X-Forwarded-For` is read right to left.
//!
//! # Security
//! The leftmost `X-Forwarded-For` entry is whatever the client wrote. Each trusted proxy
//! appends the address it received the request from, so reading right to left and stopping at
//! the first address that is not a trusted proxy gives the one address no client can choose.
//! A peer that is not a trusted proxy is the client, and its forwarding headers are ignored.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The networks of the proxies in front of the gateway.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 peer counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer` itself unless it is a trusted proxy; then the rightmost
    /// `X-Forwarded-For` hop that is not a trusted proxy (the leftmost if all are). An entry
    /// that is not an address ends the walk: whatever is left of it cannot be trusted.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|value| value.to_str().unwrap_or_default().rsplit(','));
        for hop in hops {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        canonical(client)
    }
}

/// An `X-Forwarded-For` entry: an address, bracketed or with a port as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `ip` as text (`X-Forwarded-For`, the access line): see [`push_ip`].
pub fn ip_text(ip: IpAddr) -> String {
    let mut text = String::with_capacity(15);
    push_ip(&mut text, ip);
    text
}

/// Appends `ip` as `Display` writes it; IPv4 by hand, which through the formatter would cost
/// ten times as much, on every request.
pub fn push_ip(text: &mut String, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        text.push_str(&ip.to_string());
        return;
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1/32"]);
        let cases: [(&str, &[&str], &str); 9] = [
            // An untrusted peer is the client, whatever it claims.
            ("203.0.113.9", &["1.2.3.4"], "203.0.113.9"),
            // A trusted peer: the last hop it appended.
            ("10.0.0.1", &["198.51.100.7"], "198.51.100.7"),
            // The client wrote a fake first hop; the proxy appended the real one.
            ("10.0.0.1", &["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
            // Two trusted proxies in a row.
            (
                "10.0.0.1",
                &["6.6.6.6, 198.51.100.7, 192.168.1.1"],
                "198.51.100.7",
            ),
            // Several header lines read as one list.
            (
                "10.0.0.1",
                &["6.6.6.6", "198.51.100.7, 10.1.1.1"],
                "198.51.100.7",
            ),
            // Every hop trusted: the leftmost.
            ("10.0.0.1", &["10.2.2.2, 10.3.3.3"], "10.2.2.2"),
            // No header: the peer.
            ("10.0.0.1", &[], "10.0.0.1"),
            // Garbage stops the walk at the last good hop.
            ("10.0.0.1", &["1.1.1.1, nonsense, 10.4.4.4"], "10.4.4.4"),
            // Ports and brackets as some proxies write them.
            ("10.0.0.1", &["[2001:db8::1]:443"], "2001:db8::1"),
        ];
        for (peer, header, client) in cases {
            assert_eq!(
                trusted.client_ip(ip(peer), &xff(header)),
                ip(client),
                "{peer} {header:?}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let trusted = proxies(&["127.0.0.0/8"]);
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
        assert!(!proxies(&[]).contains(ip("127.0.0.1")));
    }

    proptest::proptest! {
        #[test]
        fn ip_text_is_what_display_writes(bits: u32) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(bits));
            proptest::prop_assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn ip_text_of_edge_addresses_and_ipv6() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        for ip in [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V4(Ipv4Addr::new(10, 0, 100, 9)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ] {
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
}
