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

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use bookshelf_proto::auth::v1::auth_service_server::AuthService;
    use bookshelf_runtime::peer::PeerCertificate;
    use bookshelf_test_support::service_clients::{ClientKey, token_request};

    use crate::{Application, Config, service::clients};

    /// The claims of a token, unverified.
    fn claims(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).expect("a payload");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_token_granted_over_mutual_tls_is_bound_to_the_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = Application::build(&Config::embedded(dir.path().into()), listener)
            .await
            .unwrap();
        let key = ClientKey::ed25519("indexer-1");
        let jwks = ClientKey::jwks(&[&key]);
        let scopes = ["books:read".to_owned()];
        clients::add(&app.api.auth.store, "indexer", &scopes, &jwks, 0)
            .await
            .unwrap();
        let grant = |certificate: Option<[u8; 32]>| {
            let mut request = tonic::Request::new(token_request(&key.assertion("indexer"), ""));
            if let Some(sha256) = certificate {
                request.extensions_mut().insert(PeerCertificate {
                    spiffe_id: Some("spiffe://bookshelf/indexer".into()),
                    sha256,
                });
            }
            app.api.issue_service_token(request)
        };

        let bound = grant(Some([7; 32]))
            .await
            .unwrap()
            .into_inner()
            .access_token;
        assert_eq!(
            claims(&bound)["cnf"],
            serde_json::json!({ "x5t#S256": URL_SAFE_NO_PAD.encode([7u8; 32]) })
        );
        let unbound = grant(None).await.unwrap().into_inner().access_token;
        assert!(claims(&unbound).get("cnf").is_none());
    }
}
