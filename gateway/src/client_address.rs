//! Who a request comes from, for the auth service's limits per client address.
//!
//! By default the client is the socket peer. Behind a reverse proxy every peer is the
//! proxy, so `GATEWAY_CLIENT_ADDRESS_HEADER` names the header the proxy sets, and
//! `GATEWAY_TRUSTED_PROXIES` lists the proxies allowed to set it: from any other peer
//! the header is ignored, or a client reaching the gateway directly could name a new
//! address with every request. Each proxy appends the address it saw, so the client is
//! the right-most entry that is not itself a listed proxy; the entries left of it are
//! whatever the client chose to send. The address travels to the auth service in
//! metadata, which it believes only from peers it trusts, and so does the client's
//! `User-Agent`, which a session records beside the address.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderName, header::USER_AGENT, request::Parts},
};
use bookshelf_runtime::client_address::{forward, forward_user_agent};
use ipnet::IpNet;

use crate::{
    AppState,
    error::{ApiError, Internal},
};

/// The address of the client a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

/// Passes the client's address and `User-Agent` (from `headers`, when it sent one) on
/// to the auth service with `call`.
pub(crate) fn forward_client<T>(call: &mut tonic::Request<T>, client: IpAddr, headers: &HeaderMap) {
    forward(call, client);
    if let Some(user_agent) = headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        forward_user_agent(call, user_agent);
    }
}

/// Where the client's address is read from: the socket peer, or the header that the
/// listed proxies set.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressSource {
    header: Option<HeaderName>,
    trusted_proxies: Vec<IpNet>,
}

impl AddressSource {
    /// Reads `header` from peers inside `trusted_proxies`, and nothing from others.
    pub(crate) fn new(header: Option<HeaderName>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            header,
            trusted_proxies,
        }
    }

    /// The header, when it is named but no peer may set it.
    pub(crate) fn header_never_believed(&self) -> Option<&HeaderName> {
        self.header
            .as_ref()
            .filter(|_| self.trusted_proxies.is_empty())
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.trusted_proxies
            .iter()
            .any(|network| network.contains(&address))
    }

    /// The client of a request from `peer` with `headers`.
    ///
    /// From a listed proxy, the header's entries are read right to left, across all
    /// its lines in order, past every listed proxy: the first other address is the
    /// client. When the entries run out, or one is not an address, before that, the
    /// last listed proxy seen is the client, since nothing further left can be
    /// vouched for.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        let Some(name) = &self.header else {
            return client;
        };
        if !self.is_trusted(client) {
            return client;
        }
        for line in headers.get_all(name).iter().rev() {
            let Ok(text) = line.to_str() else {
                return client;
            };
            for entry in text.rsplit(',') {
                let Some(address) = parse_entry(entry) else {
                    return client;
                };
                client = address;
                if !self.is_trusted(address) {
                    return client;
                }
            }
        }
        client
    }
}

/// One header entry's address: bare, or with a port, or an IPv6 address in brackets.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
        .map(|address| address.to_canonical())
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => Ok(Self(
                state.client_addresses.client(peer.ip(), &parts.headers),
            )),
            // Only if the server was set up without peer addresses: refusing is safer
            // than letting every client share one allowance.
            None => Err(Internal::NoPeerAddress.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn source(trusted: &[&str]) -> AddressSource {
        let trusted = trusted.iter().map(|net| net.parse().unwrap()).collect();
        AddressSource::new(Some(HeaderName::from_static("x-forwarded-for")), trusted)
    }

    fn forwarded(lines: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_static(line));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn from_an_unlisted_peer_the_header_is_ignored() {
        let peer = ip("192.0.2.1");
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(source(&[]).client(peer, &headers), peer);
        assert_eq!(source(&["10.0.0.0/8"]).client(peer, &headers), peer);
        let unnamed = AddressSource::new(None, vec!["192.0.2.1/32".parse().unwrap()]);
        assert_eq!(unnamed.client(peer, &headers), peer);
    }

    #[test]
    fn the_client_is_the_rightmost_entry_that_is_no_listed_proxy() {
        let chain = source(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        let peer = ip("10.0.0.1");
        let headers = forwarded(&["6.6.6.6, 10.9.9.9", "203.0.113.9, 10.0.0.2 ,10.0.0.3"]);
        assert_eq!(chain.client(peer, &headers), ip("203.0.113.9"));
        let headers = forwarded(&["[2001:db8::1]:443, [2001:db8:ffff::2]"]);
        assert_eq!(chain.client(peer, &headers), ip("2001:db8::1"));
        let headers = forwarded(&["198.51.100.7:5000"]);
        assert_eq!(chain.client(peer, &headers), ip("198.51.100.7"));
    }

    #[test]
    fn a_chain_that_runs_out_or_breaks_ends_at_the_last_listed_proxy() {
        let chain = source(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        assert_eq!(chain.client(peer, &HeaderMap::new()), peer);
        assert_eq!(
            chain.client(peer, &forwarded(&["10.0.0.7, 10.0.0.8"])),
            ip("10.0.0.7")
        );
        assert_eq!(
            chain.client(peer, &forwarded(&["6.6.6.6, not an address, 10.0.0.8"])),
            ip("10.0.0.8")
        );
        assert_eq!(chain.client(peer, &forwarded(&["6.6.6.6, "])), peer);
    }

    #[test]
    fn ipv4_seen_through_ipv6_is_ipv4() {
        let chain = source(&["127.0.0.1/32"]);
        let peer = ip("::ffff:127.0.0.1");
        let headers = forwarded(&["::ffff:198.51.100.7"]);
        assert_eq!(chain.client(peer, &headers), ip("198.51.100.7"));
    }
}
