//! The REST API described as OpenAPI 3.1, from the handlers' own annotations and the
//! types they answer with, served at `/openapi.json`, with an interactive reference
//! at `/docs` whose assets are compiled into the binary (nothing fetched at run time).

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    books, covers, envelope::Failure, login, meta, mfa, oauth, passkey_login, passkeys, resumable,
    saved_passkeys, sessions, users,
};

/// Where the description is served.
pub(crate) const DESCRIPTION_PATH: &str = "/openapi.json";
/// Where the interactive reference is served.
pub(crate) const DOCS_PATH: &str = "/docs";

/// The security scheme of every protected route: the token from `POST /users/login`.
pub(crate) const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bookshelf",
        description = "A book library: register, log in for a JWT, and keep books with \
                       cover images. Every JSON answer is the envelope \
                       `{\"message\", \"data\", \"error\"}`; paths work with and without \
                       the trailing slash.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        users::register,
        login::login,
        users::current,
        users::rename,
        users::disable,
        sessions::refresh,
        sessions::logout,
        sessions::list,
        sessions::revoke,
        sessions::change_password,
        mfa::enroll,
        mfa::confirm,
        mfa::disable,
        mfa::login,
        passkeys::register_start,
        passkeys::register_finish,
        saved_passkeys::list,
        saved_passkeys::rename,
        saved_passkeys::delete,
        passkey_login::start,
        passkey_login::finish,
        books::create,
        books::list,
        books::get,
        books::update,
        books::delete,
        covers::get,
        resumable::options,
        resumable::create,
        resumable::status,
        resumable::append,
        resumable::cancel,
        meta::jwks,
        meta::healthz,
        oauth::token,
        oauth::metadata,
    ),
    // Refusals described by the extractors that make them refer to it by name.
    components(schemas(Failure)),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Accounts and tokens"),
        (name = "sessions", description = "Refreshing tokens, logging out, the caller's \
                                           sessions, and changing the password"),
        (name = "passkeys", description = "WebAuthn passkeys (a first factor, \
                                            usernameless sign-in) and security keys (a \
                                            second factor), and passkey-only sign-up"),
        (name = "books", description = "The caller's books and their covers"),
        (name = "uploads", description = "Resumable uploads of covers \
                                          (draft-ietf-httpbis-resumable-upload-05, interop \
                                          version 6): a finished one is named by a book \
                                          form's `cover_upload`"),
        (name = "operations", description = "Health and the token verification keys"),
        (name = "oauth", description = "Tokens for registered service clients: the \
                                        client credentials grant, in OAuth's own shapes"),
    ),
)]
pub(crate) struct ApiDescription;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `/openapi.json` and `/docs`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    SwaggerUi::new(DOCS_PATH)
        .url(DESCRIPTION_PATH, ApiDescription::openapi())
        .into()
}
