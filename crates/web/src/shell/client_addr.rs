//! The client's address: the right-most hop of `X-Forwarded-For` that is not one of our own
//! trusted proxies. Left-most values are whatever the client wrote, so they are never trusted.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address a request came from, as far as we can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Parses `MAMIS_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges.
pub fn parse_trusted_proxies(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{p}' is neither an IP address nor a CIDR range"))
        })
        .collect()
}

/// Walks the hops from the nearest (the TCP peer) outwards and stops at the first one we do not
/// operate ourselves.
pub fn resolve(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let trusted_ip = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut current = peer.ip();
    if !trusted_ip(&current) {
        return ClientAddr(current);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                current = ip;
                if !trusted_ip(&ip) {
                    break;
                }
            }
            // garbage in the header: the last address we could trust is the answer
            Err(_) => break,
        }
    }
    ClientAddr(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(xff: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("x-forwarded-for", xff.parse().unwrap());
        m
    }

    #[test]
    fn table() {
        let trusted = parse_trusted_proxies("10.0.0.0/8, 192.0.2.1").unwrap();
        let peer_proxy: SocketAddr = "10.0.0.5:1234".parse().unwrap();
        let peer_direct: SocketAddr = "203.0.113.9:1234".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // a direct client cannot spoof with the header
        assert_eq!(
            resolve(peer_direct, &h("1.2.3.4"), &trusted).0,
            ip("203.0.113.9")
        );
        // behind our proxy: the right-most untrusted hop
        assert_eq!(
            resolve(peer_proxy, &h("1.2.3.4, 198.51.100.7"), &trusted).0,
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve(
                peer_proxy,
                &h("198.51.100.7, 192.0.2.1, 10.1.1.1"),
                &trusted
            )
            .0,
            ip("198.51.100.7")
        );
        // only our proxies: the left-most of them
        assert_eq!(
            resolve(peer_proxy, &h("10.9.9.9"), &trusted).0,
            ip("10.9.9.9")
        );
        // junk stops the walk
        assert_eq!(
            resolve(peer_proxy, &h("evil, 10.2.2.2"), &trusted).0,
            ip("10.2.2.2")
        );
        // no header: the proxy itself
        assert_eq!(
            resolve(peer_proxy, &HeaderMap::new(), &trusted).0,
            ip("10.0.0.5")
        );
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("").unwrap().is_empty());
    }
}
