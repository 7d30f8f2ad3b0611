//! The session RPCs' messages: `RefreshToken`, `ListSessions`, `ChangePassword`.

use bookshelf_proto::auth::v1::{RefreshTokenResponse, Session};
use bookshelf_runtime::clock::timestamp;

use crate::{domain::SessionId, service::sessions::Grant, store::sessions::SessionRecord};

/// An open session as its user sees it; `current` is the caller's own session.
pub(super) fn session_message(session: SessionRecord, current: &SessionId) -> Session {
    Session {
        current: *current == session.id,
        id: session.id.as_str().to_owned(),
        created_at: Some(timestamp(session.created_at)),
        last_used_at: Some(timestamp(session.last_used_at)),
        client_address: session.client.address.unwrap_or_default(),
        user_agent: session.client.user_agent.unwrap_or_default(),
        expires_at: Some(timestamp(session.expires_at)),
    }
}

impl From<Grant> for RefreshTokenResponse {
    fn from(grant: Grant) -> Self {
        Self {
            token: grant.token.token,
            expires_at: Some(timestamp(grant.token.expires_at as i64 * 1000)),
            refresh_token: grant.refresh_token.expose().to_owned(),
            refresh_expires_at: Some(timestamp(grant.refresh_expires_at)),
        }
    }
}
