//! [`AuthApi`], the value the gRPC service runs on, and what its calls read from a
//! request besides the message: the caller its token speaks for, and the client a
//! trusted gateway says it forwards.

use bookshelf_runtime::{
    client_address::{client_address, client_user_agent, limit_key},
    peer::Callers,
};
use bookshelf_tokens::{Verifier, interceptor::caller};
use tokio::sync::watch;
use tonic::{Request, Status};

use crate::{
    domain::{SessionId, UserId, session::ClientSeen},
    service::{Auth, CurrentCaller},
};

/// The gRPC service: the use cases, and what only the edge needs.
pub(crate) struct AuthApi {
    pub auth: Auth,
    pub verifier: Verifier,
    /// The gateways, whose forwarded client address and user agent are believed.
    pub forwarders: Callers,
    /// The services that may watch the revocation feed.
    pub verifiers: Callers,
    /// Becomes true when the server starts shutting down: endless revocation streams
    /// then end, so the server can drain and exit.
    pub shutting_down: watch::Receiver<bool>,
}

impl AuthApi {
    /// The active user a request's token speaks for, and its session, which must be
    /// open.
    pub(super) async fn current<T>(&self, request: &Request<T>) -> Result<CurrentCaller, Status> {
        let caller = caller(request)?;
        Ok(self
            .auth
            .current(
                &UserId::issued(caller.user_id),
                SessionId::issued(caller.session_id),
                caller.auth_time,
            )
            .await?)
    }

    /// The key the client of `request` is limited under: its forwarded address when
    /// a trusted gateway sent it, else the peer's.
    pub(super) fn client_key<T>(&self, request: &Request<T>) -> String {
        client_address(request, &self.forwarders).map_or_else(|| "unknown".to_owned(), limit_key)
    }

    /// Where `request` comes from, as its session records it.
    pub(super) fn client_seen<T>(&self, request: &Request<T>) -> ClientSeen {
        ClientSeen {
            address: client_address(request, &self.forwarders).map(|address| address.to_string()),
            user_agent: client_user_agent(request, &self.forwarders),
        }
    }
}
