//! IP / CIDR allow-lists (token `limits_ip_setting`).

use std::net::IpAddr;

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
}
