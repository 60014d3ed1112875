//! The address a request came from, read through the proxies this
//! deployment trusts (`TRUSTED_PROXIES`), however many of them it crossed.
//!
//! On Knative a request reaches the function through the ingress gateway,
//! sometimes the activator, then the pod's queue-proxy, each appending the
//! address it saw to `X-Forwarded-For`; how many depends on whether the
//! activator was in the path, so counting hops cannot work. Trusting
//! networks does: walking the header from the right, the first address
//! outside every trusted network is the client, whatever it wrote itself to
//! the left.

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The networks whose proxies' `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Each entry a network (`10.0.0.0/8`) or one address (`127.0.0.1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let network = IpNet::from_str(entry)
                .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                .map_err(|_| format!("{entry:?} is neither an address nor a network (10.0.0.0/8)"))?;
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address: `peer` itself unless it is a trusted proxy;
    /// then, from the right of `X-Forwarded-For`, the first address no
    /// trusted network holds; the leftmost when every one is trusted (a
    /// client inside the cluster). An entry that is no address ends the
    /// walk at the trusted proxy that wrote it.
    pub fn client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Right to left: the last header's last entry was appended last.
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|v| v.to_str().unwrap_or("?").rsplit(','))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        for entry in entries {
            let Some(address) = address_of(entry) else { break };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TrustedProxies::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An `X-Forwarded-For` entry's address: `1.2.3.4`, `1.2.3.4:5678`, `::1`
/// or `[::1]:5678`, canonical (an IPv4-mapped IPv6 address is IPv4).
fn address_of(entry: &str) -> Option<IpAddr> {
    let bare = match entry.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None if entry.matches(':').count() == 1 => entry.split_once(':')?.0,
        None => entry,
    };
    IpAddr::from_str(bare).ok().map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const KNATIVE: &str = "127.0.0.1/32, ::1, 10.244.0.0/16";

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = trusted(KNATIVE);
        assert_eq!(proxies.client(&forwarded(&["6.6.6.6"]), ip("203.0.113.5")), ip("203.0.113.5"));
        assert_eq!(
            TrustedProxies::default().client(&forwarded(&["6.6.6.6"]), ip("127.0.0.1")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_same_with_the_activator_in_the_path_or_not() {
        let proxies = trusted(KNATIVE);
        // gateway -> queue-proxy
        let direct = forwarded(&["6.6.6.6, 203.0.113.5, 10.244.1.7"]);
        // gateway -> activator -> queue-proxy: one more hop, same client
        let activated = forwarded(&["6.6.6.6, 203.0.113.5, 10.244.1.7, 10.244.2.3"]);
        assert_eq!(proxies.client(&direct, ip("127.0.0.1")), ip("203.0.113.5"));
        assert_eq!(proxies.client(&activated, ip("127.0.0.1")), ip("203.0.113.5"));
        // The same entries split over several headers read the same.
        let split = forwarded(&["6.6.6.6", "203.0.113.5, 10.244.1.7", "10.244.2.3"]);
        assert_eq!(proxies.client(&split, ip("127.0.0.1")), ip("203.0.113.5"));
    }

    #[test]
    fn a_client_inside_the_trusted_networks_is_the_leftmost() {
        let proxies = trusted(KNATIVE);
        assert_eq!(proxies.client(&forwarded(&["10.244.9.9, 10.244.1.7"]), ip("::1")), ip("10.244.9.9"));
        assert_eq!(proxies.client(&HeaderMap::new(), ip("127.0.0.1")), ip("127.0.0.1"));
    }

    #[test]
    fn entries_with_ports_and_mapped_addresses_are_read() {
        let proxies = trusted(KNATIVE);
        let headers = forwarded(&["203.0.113.5:4711, [::ffff:10.244.1.7]:80"]);
        assert_eq!(proxies.client(&headers, ip("::ffff:127.0.0.1")), ip("203.0.113.5"));
        let headers = forwarded(&["[2001:db8::1]:443, 10.244.1.7"]);
        assert_eq!(proxies.client(&headers, ip("127.0.0.1")), ip("2001:db8::1"));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_proxy_that_wrote_it() {
        let proxies = trusted(KNATIVE);
        let headers = forwarded(&["203.0.113.5, not-an-address, 10.244.1.7"]);
        assert_eq!(proxies.client(&headers, ip("127.0.0.1")), ip("10.244.1.7"));
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error = TrustedProxies::parse("10.0.0.0/8, 10.0.0.0/33").unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert_eq!(TrustedProxies::parse(" ").unwrap(), TrustedProxies::default());
    }
}
