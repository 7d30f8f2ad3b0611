//! The service client RPCs' messages: `IssueServiceToken`, `GetUser`, `DisableUser`.

use bookshelf_proto::auth::v1::{IssueServiceTokenRequest, IssueServiceTokenResponse};

use crate::{
    domain::UserId,
    service::clients::{ServiceGrant, TokenRequest},
};

/// The longest user id looked up: ids are UUIDs.
const MAX_USER_ID_BYTES: usize = 64;

/// A token request as the service reads it.
pub(super) fn token_request(request: &IssueServiceTokenRequest) -> TokenRequest<'_> {
    TokenRequest {
        grant_type: &request.grant_type,
        assertion_type: &request.client_assertion_type,
        assertion: &request.client_assertion,
        scope: &request.scope,
    }
}

impl From<ServiceGrant> for IssueServiceTokenResponse {
    fn from(grant: ServiceGrant) -> Self {
        Self {
            access_token: grant.token,
            token_type: "Bearer".to_owned(),
            expires_in: i64::try_from(grant.expires_in).unwrap_or(i64::MAX),
            scope: grant.scope.to_string(),
        }
    }
}

/// The account a service client names; an id no account could have is `None`.
pub(super) fn named_user(user_id: &str) -> Option<UserId> {
    (!user_id.is_empty() && user_id.len() <= MAX_USER_ID_BYTES)
        .then(|| UserId::issued(user_id.to_owned()))
}
