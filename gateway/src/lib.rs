//! Bookshelf's REST gateway: the tutorial's JSON and multipart API, each route
//! translated to a call on the auth or library service. It verifies no token itself:
//! it passes `Authorization` on and the services' interceptors decide.
//!
//! - [`config`]: the one configuration struct.
//! - [`backends`]: the gRPC clients, deadlines, and what every call carries.
//! - The routes: [`users`] (register, profile, rename, disable), [`login`],
//!   [`sessions`] (refresh, logout, sessions, password), [`mfa`], [`passkeys`] and
//!   [`passkey_login`], [`books`], [`covers`],
//!   [`meta`] (JWKS and health), [`oauth`] (service clients' token endpoint and its
//!   metadata).
//! - [`uploads`]: book forms, their parts in any order, streamed into client-streaming
//!   calls; [`book_uploads`]: the two upload calls and the messages they send;
//!   [`resumable`]: resumable uploads (the IETF draft's upload resources), which a
//!   book form then names in `cover_upload`.
//! - [`extract`]: the bearer token and bodies in; [`envelope`]: bodies out;
//!   [`error`]: the one mapping of errors (gRPC statuses included) to HTTP.
//! - [`openapi`]: the description at `/openapi.json`, from the routes and their types,
//!   and the reference at `/docs`.
//! - [`timestamps`]: times as the answers spell them.
//! - [`request_id`]: the `x-request-id` of every request, on both hops.
//! - [`server`]: connections accepted within bounds (timeouts, a cap), over HTTPS
//!   when given a certificate, and draining; [`watchdog`]: what it knows of each
//!   connection to enforce them.
//! - [`access`]: the access line and metrics of every request, its server span, and
//!   the trace context passed to the services; [`backend_traces`]: the client span of
//!   each backend call.
//! - [`client_address`]: who a request comes from, forwarded to the auth service.
//! - [`webapp`]: the web app at `/`, its files compiled in, under a strict
//!   Content-Security-Policy.
#![forbid(unsafe_code)]

mod access;
mod backend_traces;
mod backends;
mod book_form_docs;
mod book_uploads;
mod books;
mod client_address;
mod config;
mod covers;
mod envelope;
mod error;
mod extract;
mod login;
mod meta;
mod mfa;
mod oauth;
mod openapi;
mod passkey_login;
mod passkeys;
mod request_id;
mod resumable;
mod saved_passkeys;
mod server;
mod sessions;
mod timestamps;
mod uploads;
mod users;
mod watchdog;
mod webapp;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use tokio::net::TcpListener;

pub use config::Config;

use crate::{backends::Backends, error::ApiError, watchdog::ConnectionLimits};

/// What every route shares, behind one `Arc`: axum clones the state for every request,
/// and one reference count is cheaper to clone than every gRPC client in it.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub(crate) struct Shared {
    /// The gRPC clients.
    pub(crate) backends: Backends,
    /// The public base URL for `image_url`.
    pub(crate) public_url: String,
    /// The cover cap.
    pub(crate) max_cover_bytes: usize,
    /// The bytes all covers held until their form's fields arrive may take at once.
    pub(crate) held_covers: Arc<tokio::sync::Semaphore>,
    /// Most books an unpaged listing answers at once.
    pub(crate) max_unpaged_books: usize,
    /// Where each request's client address is read from.
    pub(crate) client_addresses: client_address::AddressSource,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Registers `path` both with and without its trailing slash.
fn both<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    path: &str,
    route: axum::routing::MethodRouter<S>,
) -> Router<S> {
    let bare = path.trim_end_matches('/');
    router
        .route(bare, route.clone())
        .route(&format!("{bare}/"), route)
}

/// A refused upload is answered before its body is read whole (too large, no token,
/// a bad image): the rest of the body still sits in the connection. `Connection:
/// close` tells the client not to reuse it, so its next request does not meet a
/// connection the server is closing.
async fn close_after_refusal(mut response: axum::response::Response) -> axum::response::Response {
    if !response.status().is_success() {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// The REST API: the tutorial's routes, plus health, JWKS and covers.
pub(crate) fn router(state: AppState, max_json_bytes: usize) -> Router {
    let upload_limit = DefaultBodyLimit::max(state.max_cover_bytes + 256 * 1024);
    let json_limit = DefaultBodyLimit::max(max_json_bytes);
    let mut router = Router::new();
    router = both(
        router,
        "/users",
        post(users::register)
            .get(users::current)
            .put(users::rename)
            .delete(users::disable)
            .layer(json_limit),
    );
    router = both(router, "/users/login", post(login::login).layer(json_limit));
    router = both(
        router,
        "/users/token",
        post(sessions::refresh).layer(json_limit),
    );
    router = both(router, "/users/logout", post(sessions::logout));
    router = both(router, "/users/sessions", get(sessions::list));
    router = both(
        router,
        "/users/sessions/{id}",
        axum::routing::delete(sessions::revoke),
    );
    router = both(
        router,
        "/users/password",
        axum::routing::put(sessions::change_password).layer(json_limit),
    );
    router = both(
        router,
        "/users/login/mfa",
        post(mfa::login).layer(json_limit),
    );
    router = both(router, "/users/passkeys", get(saved_passkeys::list));
    router = both(
        router,
        "/users/passkeys/register/start",
        post(passkeys::register_start).layer(json_limit),
    );
    router = both(
        router,
        "/users/passkeys/register/finish",
        post(passkeys::register_finish).layer(json_limit),
    );
    router = both(
        router,
        "/users/passkeys/{id}",
        axum::routing::patch(saved_passkeys::rename)
            .delete(saved_passkeys::delete)
            .layer(json_limit),
    );
    router = both(
        router,
        "/users/login/passkey/start",
        post(passkey_login::start).layer(json_limit),
    );
    router = both(
        router,
        "/users/login/passkey/finish",
        post(passkey_login::finish).layer(json_limit),
    );
    router = both(
        router,
        "/users/mfa/totp",
        post(mfa::enroll).delete(mfa::disable).layer(json_limit),
    );
    router = both(
        router,
        "/users/mfa/totp/confirm",
        post(mfa::confirm).layer(json_limit),
    );
    router = both(
        router,
        "/books",
        post(books::create)
            .get(books::list)
            .layer(upload_limit)
            .layer(axum::middleware::map_response(close_after_refusal)),
    );
    router = both(
        router,
        "/books/{id}",
        get(books::get)
            .put(books::update)
            .delete(books::delete)
            .layer(upload_limit)
            .layer(axum::middleware::map_response(close_after_refusal)),
    );
    router = both(
        router,
        "/uploads",
        post(resumable::create)
            .options(resumable::options)
            .layer(axum::middleware::map_response(close_after_refusal)),
    );
    router = both(
        router,
        "/uploads/{id}",
        axum::routing::head(resumable::status)
            .patch(resumable::append)
            .delete(resumable::cancel)
            .layer(axum::middleware::map_response(close_after_refusal)),
    );
    router = both(router, "/oauth/token", post(oauth::token).layer(json_limit));
    router = router
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route("/covers/{name}", get(covers::get))
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/healthz", get(meta::healthz))
        .merge(openapi::router())
        .merge(webapp::router(&state.public_url));
    router
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(access::middleware))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A backend URL is not a valid URI.
    #[error("invalid backend URL")]
    BackendUrl(#[from] tonic::transport::Error),
    /// A backend URL's scheme does not match the TLS setting.
    #[error(transparent)]
    BackendChannel(#[from] bookshelf_runtime::tls::connector::ChannelError),
    /// The TLS files are missing or unusable.
    #[error(transparent)]
    Tls(#[from] bookshelf_runtime::tls::TlsError),
    /// The listener failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

/// The configured source of client addresses, with a warning when its header could
/// never be believed.
fn client_addresses(config: &Config) -> client_address::AddressSource {
    let source = client_address::AddressSource::new(
        config.client_address_header.clone(),
        config.trusted_proxies.clone(),
    );
    if let Some(header) = source.header_never_believed() {
        tracing::warn!(
            %header,
            "GATEWAY_CLIENT_ADDRESS_HEADER is set but GATEWAY_TRUSTED_PROXIES lists no \
             proxy, so the header is never believed and each client is its socket peer"
        );
    }
    source
}

/// A built gateway, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    public_tls: Option<bookshelf_runtime::tls::PublicTls>,
}

impl Application {
    /// Prepares the gateway on `listener`; backends are connected on first use.
    pub fn build(config: &Config, listener: TcpListener) -> Result<Self, StartError> {
        let tls = config
            .tls_files()?
            .map(bookshelf_runtime::tls::InternalTls::start)
            .transpose()?;
        let state = AppState(Arc::new(Shared {
            backends: Backends::new(config, tls.as_ref())?,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            max_cover_bytes: config.max_cover_bytes,
            held_covers: Arc::new(tokio::sync::Semaphore::new(
                config
                    .max_cover_bytes
                    .saturating_mul(uploads::HELD_COVERS)
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            max_unpaged_books: config.max_unpaged_books.max(1),
            client_addresses: client_addresses(config),
        }));
        let public_tls = match (&config.public_tls_cert, &config.public_tls_key) {
            (Some(cert), Some(key)) => Some(bookshelf_runtime::tls::PublicTls::start(
                cert.clone(),
                key.clone(),
            )?),
            _ => None,
        };
        Ok(Self {
            listener,
            router: router(state, config.max_json_bytes),
            limits: config.connection_limits(),
            public_tls,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        server::serve(
            self.listener,
            self.router,
            self.limits,
            self.public_tls,
            shutdown,
        )
        .await;
        Ok(())
    }
}
