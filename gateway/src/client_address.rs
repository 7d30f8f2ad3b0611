//! Who a request comes from, for the auth service's limits per client address.
//!
//! By default the client is the socket peer. Behind a reverse proxy every peer is the
//! proxy, so `GATEWAY_CLIENT_ADDRESS_HEADER` names the header the proxy sets; its
//! rightmost entry is taken, the one the proxy nearest to the gateway appended (the
//! entries left of it are whatever the client chose to send). The address travels to
//! the auth service in metadata, which it believes only from peers it trusts, and so
//! does the client's `User-Agent`, which a session records beside the address.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderName, header::USER_AGENT, request::Parts},
};
use bookshelf_runtime::client_address::{forward, forward_user_agent};

use crate::{
    AppState,
    error::{ApiError, Internal},
};

/// The address of the client a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Passes the client's address and `User-Agent` (from `headers`, when it sent one) on
/// to the auth service with `call`.
pub fn forward_client<T>(call: &mut tonic::Request<T>, client: IpAddr, headers: &HeaderMap) {
    forward(call, client);
    if let Some(user_agent) = headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        forward_user_agent(call, user_agent);
    }
}

/// The rightmost address in the `name` headers, if it parses.
fn from_header(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let last = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let entry = last.rsplit(',').next()?.trim();
    // An IPv6 address may come bracketed, and either kind with a port.
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
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(name) = &state.client_address_header
            && let Some(address) = from_header(&parts.headers, name)
        {
            return Ok(Self(address));
        }
        // Without the proxy's header (a request that did not come through it), the
        // peer is the client.
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => Ok(Self(peer.ip())),
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

    #[test]
    fn the_rightmost_forwarded_address_is_the_client() {
        let name = HeaderName::from_static("x-forwarded-for");
        let mut headers = HeaderMap::new();
        headers.append(&name, HeaderValue::from_static("6.6.6.6, 10.0.0.1"));
        headers.append(&name, HeaderValue::from_static("203.0.113.9, 198.51.100.7"));
        assert_eq!(
            from_header(&headers, &name),
            Some("198.51.100.7".parse().unwrap())
        );
        headers.insert(&name, HeaderValue::from_static("[2001:db8::1]:443"));
        assert_eq!(
            from_header(&headers, &name),
            Some("2001:db8::1".parse().unwrap())
        );
        headers.insert(&name, HeaderValue::from_static("not an address"));
        assert_eq!(from_header(&headers, &name), None);
    }
}
