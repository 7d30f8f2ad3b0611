//! The address of the client a request comes from, for limits per client.
//!
//! The gateway sees the client; the services see only the gateway. So the gateway
//! forwards the client's address in the [`CLIENT_ADDRESS`] metadata, and a service
//! believes that metadata only from a peer whose certificate proves it is one of the
//! forwarders it was told to trust: any other caller (one that reaches the service
//! directly) is counted under its own peer address, whatever it claims. The client's `User-Agent` travels the same way, in
//! [`CLIENT_USER_AGENT`], so that a user's list of sessions names the browsers and apps
//! rather than the gateway.

use std::net::IpAddr;

use ipnet::IpNet;
use tonic::{Request, metadata::MetadataValue};

use crate::peer::Callers;

/// The metadata key that carries the client's address from the gateway.
pub const CLIENT_ADDRESS: &str = "x-client-address";

/// A CIDR network, or a bare address as the network of that one address: how the
/// gateway's list of trusted proxies (`GATEWAY_TRUSTED_PROXIES`) is written.
pub fn network(raw: &str) -> Result<IpNet, ipnet::AddrParseError> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|error| raw.parse::<IpAddr>().map(IpNet::from).map_err(|_| error))
}

/// The metadata key that carries the client's `User-Agent` from the gateway.
pub const CLIENT_USER_AGENT: &str = "x-client-user-agent";

/// The longest user agent kept; longer ones are cut, since they are only shown back.
const MAX_USER_AGENT_CHARS: usize = 256;

/// The client's user agent: the forwarded one from one of `forwarders`, else the
/// caller's own `user-agent` metadata; without control characters and at most 256
/// characters. `None` when there is none, or nothing printable in it.
pub fn client_user_agent<T>(request: &Request<T>, forwarders: &Callers) -> Option<String> {
    let key = if forwarders.admit(request) && request.metadata().contains_key(CLIENT_USER_AGENT) {
        CLIENT_USER_AGENT
    } else {
        "user-agent"
    };
    let raw = request.metadata().get(key)?.to_str().ok()?;
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

/// Sets the [`CLIENT_USER_AGENT`] metadata of `request` (replacing any), when
/// `user_agent` can be metadata at all.
pub fn forward_user_agent<T>(request: &mut Request<T>, user_agent: &str) {
    if let Ok(value) = MetadataValue::try_from(user_agent) {
        request.metadata_mut().insert(CLIENT_USER_AGENT, value);
    }
}

/// The client address of `request`: the forwarded one when the caller is one of
/// `forwarders` and forwarded one, else the peer's own. `None` only when the
/// transport knows no peer (an in-memory channel).
pub fn client_address<T>(request: &Request<T>, forwarders: &Callers) -> Option<IpAddr> {
    let peer = canonical(request.remote_addr()?.ip());
    if forwarders.admit(request)
        && let Some(forwarded) = request
            .metadata()
            .get(CLIENT_ADDRESS)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<IpAddr>().ok())
    {
        return Some(canonical(forwarded));
    }
    Some(peer)
}

/// Sets the [`CLIENT_ADDRESS`] metadata of `request` (replacing any).
pub fn forward<T>(request: &mut Request<T>, client: IpAddr) {
    let value =
        MetadataValue::try_from(client.to_string()).expect("an IP address is valid metadata");
    request.metadata_mut().insert(CLIENT_ADDRESS, value);
}

/// An IPv4 address seen through an IPv6 socket is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// The key one client is limited under: an IPv4 address as is, an IPv6 address by
/// its /64 network, since one subscriber is routinely given a whole /64 and could
/// otherwise take a new address per attempt.
pub fn limit_key(address: IpAddr) -> String {
    match canonical(address) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = IpNet::new(IpAddr::V6(v6), 64)
                .expect("64 is a valid IPv6 prefix length")
                .trunc();
            network.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
        assert_eq!(limit_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
