//! `GET /.well-known/jwks.json` and `GET /healthz`.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bookshelf_proto::auth::v1::GetSigningKeysRequest;
use serde::Serialize;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::{
    AppState,
    backends::Backends,
    envelope::{Envelope, Success},
    error::ApiError,
};

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "operations",
    summary = "The public keys that verify tokens (RFC 7517), not in the envelope",
    responses(
        (status = 200, description = "The key set", body = Jwks),
        Backends,
    ),
)]
/// The auth service's public keys as a plain JWKS (RFC 7517), the form third-party
/// verifiers fetch, not wrapped in the envelope.
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let backends = &state.backends;
    let call = backends.unary_request(GetSigningKeysRequest {}, None);
    let keys = backends
        .unary(backends.auth.clone().get_signing_keys(call))
        .await?;
    let keys = Jwks {
        keys: keys
            .keys
            .into_iter()
            .map(|key| Jwk {
                kty: key.kty,
                crv: key.crv,
                x: key.x,
                kid: key.kid,
                alg: key.alg,
                key_use: key.key_use,
            })
            .collect(),
    };
    let mut response = Json(keys).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Whether both backends serve",
    responses(
        (status = 200, description = "Both serve", body = Envelope<Health>),
        (status = 503, description = "A backend does not serve; `data` says which", body = Unhealthy),
    ),
)]
/// Each backend's health; 200 when both serve, 503 otherwise.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    let backends = &state.backends;
    let check = |mut client: tonic_health::pb::health_client::HealthClient<_>, service: &str| {
        let call = backends.unary_request(
            HealthCheckRequest {
                service: service.to_owned(),
            },
            None,
        );
        async move {
            match backends.unary(client.check(call)).await {
                Ok(answer) if answer.status == ServingStatus::Serving as i32 => SERVING,
                Ok(_) => "not serving",
                Err(_) => "unreachable",
            }
        }
    };
    let (auth, library) = tokio::join!(
        check(backends.auth_health.clone(), "auth.v1.AuthService"),
        check(backends.library_health.clone(), "library.v1.LibraryService"),
    );
    let health = Health { auth, library };
    if auth == SERVING && library == SERVING {
        Success::ok("healthy", health).into_response()
    } else {
        let body = Unhealthy {
            message: "unhealthy",
            data: health,
            error: "Service Unavailable",
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// A backend's state when it serves.
const SERVING: &str = "serving";

/// The key set of `GET /.well-known/jwks.json`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Jwks {
    keys: Vec<Jwk>,
}

/// One public key (RFC 8037: an Ed25519 key).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Jwk {
    #[schema(example = "OKP")]
    kty: String,
    #[schema(example = "Ed25519")]
    crv: String,
    /// The public key, base64url.
    x: String,
    kid: String,
    #[schema(example = "EdDSA")]
    alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    key_use: String,
}

/// Each backend's state: `serving`, `not serving` or `unreachable`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    auth: &'static str,
    library: &'static str,
}

/// `GET /healthz` while a backend does not serve: the envelope of a refusal, with
/// each backend's state in `data`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Health503)]
pub(crate) struct Unhealthy {
    #[schema(example = "unhealthy")]
    message: &'static str,
    data: Health,
    #[schema(example = "Service Unavailable")]
    error: &'static str,
}
