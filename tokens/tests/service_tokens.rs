//! Service tokens at the interceptor: told apart from persons' tokens, and refused
//! off the client certificate they are bound to.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_runtime::peer::PeerCertificate;
use bookshelf_tokens::{
    AUDIENCE, Caller, Confirmation, ISSUER, KeySet, PublicKey, SERVICE_TOKEN_TYPE, ServiceCaller,
    ServiceClaims, TokenError, TokenInterceptor, Verifier,
    interceptor::{caller, service_caller},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tonic::{Code, Request, service::Interceptor};

const OURS: [u8; 32] = [1; 32];
const THEIRS: [u8; 32] = [2; 32];

struct Signer {
    encoding: EncodingKey,
    verifier: Verifier,
}

impl Signer {
    fn new() -> Self {
        let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap();
        let public = PublicKey {
            kid: "k".into(),
            x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        };
        Self {
            encoding: EncodingKey::from_ed_der(document.as_ref()),
            verifier: Verifier::new(KeySet::from_public_keys([&public])),
        }
    }

    fn sign(&self, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k".into());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    fn service(&self, cnf: Option<Confirmation>) -> String {
        let now = bookshelf_runtime::clock::Clock::system().now_secs();
        let claims = ServiceClaims {
            iss: ISSUER.into(),
            sub: "indexer".into(),
            aud: AUDIENCE.into(),
            client_id: "indexer".into(),
            scope: "books:read".into(),
            iat: now,
            exp: now + 600,
            jti: "t".into(),
            cnf,
        };
        self.sign(SERVICE_TOKEN_TYPE, &serde_json::to_value(claims).unwrap())
    }

    /// What the interceptor makes of `token` arriving over a connection whose client
    /// certificate has SHA-256 `peer`.
    fn intercept(&self, token: &str, peer: Option<[u8; 32]>) -> Result<Request<()>, Code> {
        let mut request = Request::new(());
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        if let Some(sha256) = peer {
            request.extensions_mut().insert(PeerCertificate {
                spiffe_id: Some("spiffe://bookshelf/indexer".into()),
                sha256,
            });
        }
        TokenInterceptor::optional(self.verifier.clone())
            .call(request)
            .map_err(|status| status.code())
    }
}

#[test]
fn a_certificate_bound_token_passes_only_over_its_certificate() {
    let signer = Signer::new();
    let bound = signer.service(Some(Confirmation::of_certificate(&OURS)));
    assert!(signer.intercept(&bound, Some(OURS)).is_ok());
    assert_eq!(
        signer.intercept(&bound, Some(THEIRS)).unwrap_err(),
        Code::Unauthenticated
    );
    assert_eq!(
        signer.intercept(&bound, None).unwrap_err(),
        Code::Unauthenticated
    );
    let unbound = signer.service(None);
    assert!(signer.intercept(&unbound, None).is_ok());
    assert!(signer.intercept(&unbound, Some(THEIRS)).is_ok());
}

#[test]
fn a_service_token_is_a_service_caller_and_never_a_person() {
    let signer = Signer::new();
    let request = signer.intercept(&signer.service(None), None).unwrap();
    assert_eq!(caller(&request).unwrap_err().code(), Code::PermissionDenied);
    let service: ServiceCaller = service_caller(&request, "books:read").unwrap();
    assert_eq!(service.client_id, "indexer");
    assert_eq!(
        service_caller(&request, "users:read").unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        signer.verifier.verify(&signer.service(None)),
        Err(TokenError::ServiceToken)
    );
}

#[test]
fn a_persons_token_is_never_a_service_caller_whatever_its_type_says() {
    let signer = Signer::new();
    let now = bookshelf_runtime::clock::Clock::system().now_secs();
    let person = json!({
        "sub": "reader", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now,
        "exp": now + 600, "sid": "s", "auth_time": now,
    });
    let request = signer
        .intercept(&signer.sign("JWT", &person), None)
        .unwrap();
    let found: Caller = caller(&request).unwrap();
    assert_eq!(found.user_id, "reader");
    assert_eq!(
        service_caller(&request, "books:read").unwrap_err().code(),
        Code::PermissionDenied
    );
    // A person's claims typed as a service token lack a service token's claims.
    assert_eq!(
        signer
            .intercept(&signer.sign(SERVICE_TOKEN_TYPE, &person), None)
            .unwrap_err(),
        Code::Unauthenticated
    );
    // A service token's claims without its type lack a person's session.
    let mut service = json!({
        "iss": ISSUER, "sub": "indexer", "aud": AUDIENCE, "client_id": "indexer",
        "scope": "books:read", "iat": now, "exp": now + 600, "jti": "t",
    });
    assert_eq!(
        signer
            .intercept(&signer.sign("JWT", &service), None)
            .unwrap_err(),
        Code::Unauthenticated
    );
    // Nor may a service token name another client than its subject.
    service["client_id"] = "moderation".into();
    assert_eq!(
        signer
            .intercept(&signer.sign(SERVICE_TOKEN_TYPE, &service), None)
            .unwrap_err(),
        Code::Unauthenticated
    );
}
