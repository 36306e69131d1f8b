//! IP / CIDR allow-lists (token `limits_ip_setting`) and the trusted-proxy rule that finds a
//! client's address behind reverse proxies.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

/// True when `ip` equals an entry or falls inside an entry's CIDR range. Unparsable entries
/// never match. IPv4-mapped IPv6 addresses are compared as IPv4.
pub fn ip_allowed(ip: IpAddr, list: &[String]) -> bool {
    let ip = canonical(ip);
    list.iter().any(|entry| matches(ip, entry.trim()))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn matches(ip: IpAddr, entry: &str) -> bool {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(b) => (a, Some(b)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let Ok(net) = addr.parse::<IpAddr>().map(canonical) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A parsed address range: an IP (all bits) or `ip/bits`. IPv4-mapped IPv6 is compared as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (canonical(ip), self.net) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(n) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net = addr
            .parse::<IpAddr>()
            .map(canonical)
            .map_err(|_| format!("'{s}' is not an IP address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0-{max}"))?,
        };
        Ok(Cidr { net, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

/// The client's address behind trusted reverse proxies.
///
/// `peer` is the TCP peer; `hops` are the entries of the forwarding header in order (for
/// `X-Forwarded-For`: client first, each proxy appending the address it saw). When the peer is
/// not a trusted proxy the header is ignored and the peer is the client. Otherwise the entries
/// are walked from the right, skipping trusted proxies; the first untrusted address is the
/// client — the address the last trusted proxy saw. An entry that is not an address stops the
/// walk at the proxy that wrote it. Entries left of the client are whatever the client sent and
/// are never used.
pub fn client_behind_proxies<'a>(
    peer: IpAddr,
    trusted: &[Cidr],
    hops: impl DoubleEndedIterator<Item = &'a str>,
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    for hop in hops.rev() {
        let hop = hop.trim();
        if hop.is_empty() {
            continue;
        }
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `::1`, `1.2.3.4:80`, `[::1]:80` → the IP.
fn parse_hop(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(canonical)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn ips_and_cidrs() {
        let list = vec![
            "10.0.0.0/8".to_owned(),
            "192.168.1.7".to_owned(),
            "2001:db8::/32".to_owned(),
            "junk".to_owned(),
        ];
        assert!(ip_allowed("10.2.3.4".parse().unwrap(), &list));
        assert!(ip_allowed("192.168.1.7".parse().unwrap(), &list));
        assert!(!ip_allowed("192.168.1.8".parse().unwrap(), &list));
        assert!(ip_allowed("2001:db8::1".parse().unwrap(), &list));
        assert!(
            ip_allowed("::ffff:10.9.9.9".parse().unwrap(), &list),
            "mapped IPv4"
        );
        assert!(!ip_allowed("11.0.0.1".parse().unwrap(), &list));
        assert!(ip_allowed(
            "8.8.8.8".parse().unwrap(),
            &["0.0.0.0/0".to_owned()]
        ));
    }

    fn chain(peer: &str, trusted: &[&str], header: &str) -> String {
        let trusted: Vec<Cidr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_behind_proxies(peer.parse().unwrap(), &trusted, header.split(',')).to_string()
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("junk".parse::<Cidr>().is_err());
        assert!("10.0.0.1/x".parse::<Cidr>().is_err());
        assert_eq!(c.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn forwarded_chain() {
        let lb = &["127.0.0.1", "10.0.0.0/8"];
        // Untrusted peer: the header is ignored whatever it says.
        assert_eq!(
            chain("203.0.113.9", lb, "10.9.8.7, 127.0.0.1"),
            "203.0.113.9"
        );
        // Trusted peer: the rightmost untrusted entry, not the spoofable leftmost one.
        assert_eq!(
            chain("127.0.0.1", lb, "10.9.8.7, 198.51.100.4"),
            "198.51.100.4"
        );
        assert_eq!(
            chain("127.0.0.1", lb, "6.6.6.6, 198.51.100.4, 10.1.1.1"),
            "198.51.100.4"
        );
        // Every hop trusted: the leftmost address.
        assert_eq!(chain("127.0.0.1", lb, "10.1.1.1, 10.2.2.2"), "10.1.1.1");
        // Garbage stops the walk at the proxy that wrote it.
        assert_eq!(chain("127.0.0.1", lb, "1.1.1.1, nonsense"), "127.0.0.1");
        assert_eq!(chain("127.0.0.1", lb, "nonsense, 10.2.2.2"), "10.2.2.2");
        // Ports and brackets.
        assert_eq!(chain("127.0.0.1", lb, "[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(chain("127.0.0.1", lb, "198.51.100.4:5000"), "198.51.100.4");
        // Empty header: the peer.
        assert_eq!(chain("127.0.0.1", lb, ""), "127.0.0.1");
        // No trusted proxies: never the header.
        assert_eq!(chain("127.0.0.1", &[], "198.51.100.4"), "127.0.0.1");
    }
}
