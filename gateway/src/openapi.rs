//! The REST API described as OpenAPI 3.1, from the handlers' own annotations and the
//! types they answer with, served at `/openapi.json`, with an interactive reference
//! at `/docs` whose assets are compiled into the binary (nothing fetched at run time).

use std::collections::BTreeMap;

use axum::Router;
use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{books, covers, meta, mfa, sessions, users};

/// Where the description is served.
pub const DESCRIPTION_PATH: &str = "/openapi.json";
/// Where the interactive reference is served.
pub const DOCS_PATH: &str = "/docs";

/// The security scheme of every protected route: the token from `POST /users/login`.
pub const BEARER: &str = "bearer";

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
        users::login,
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
        books::create,
        books::list,
        books::get,
        books::update,
        books::delete,
        covers::get,
        meta::jwks,
        meta::healthz,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Accounts and tokens"),
        (name = "sessions", description = "Refreshing tokens, logging out, the caller's \
                                           sessions, and changing the password"),
        (name = "books", description = "The caller's books and their covers"),
        (name = "operations", description = "Health and the token verification keys"),
    ),
)]
pub struct ApiDescription;

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
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    SwaggerUi::new(DOCS_PATH)
        .url(DESCRIPTION_PATH, ApiDescription::openapi())
        .into()
}

/// A successful answer: `data` holds the result; `error` is null.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    message: String,
    data: T,
    /// Always null on success.
    #[schema(value_type = Option<String>)]
    error: (),
}

/// An answer that refuses: `data` is null; `error` is a short reason ("Unauthorized"),
/// an object of field errors (field -> what is wrong), or for a 500 the request id to
/// quote.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    message: String,
    /// Always null when refusing.
    #[schema(value_type = Option<String>)]
    data: (),
    error: FailureDetail,
}

/// What a refusal says beyond its message.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum FailureDetail {
    /// The status's reason phrase.
    Reason(String),
    /// Field -> what is wrong with it; or `request_id` for a 500.
    Fields(BTreeMap<String, String>),
}

/// What any route may answer when a part of the service fails.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ServiceFailures {
    /// A fault of the service; `error` holds the request id to quote.
    #[response(status = 500)]
    Internal(Failure),
    /// A backend broke off mid-call.
    #[response(status = 502)]
    BadGateway(Failure),
    /// A backend is down or overloaded; `Retry-After` may say when to try again.
    #[response(status = 503)]
    Unavailable(Failure),
    /// A backend did not answer in time.
    #[response(status = 504)]
    Timeout(Failure),
}

/// What a protected route answers without a token it accepts.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum TokenFailures {
    /// Token missing, invalid, expired, of a disabled account or of an ended session.
    #[response(status = 401)]
    Unauthorized(Failure),
}

/// What a route with a JSON body answers when the body is not one it takes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum JsonBodyFailures {
    /// Malformed JSON, or field errors in `error`.
    #[response(status = 400)]
    Invalid(Failure),
    /// Body too large.
    #[response(status = 413)]
    TooLarge(Failure),
    /// Content-Type is not application/json.
    #[response(status = 415)]
    NotJson(Failure),
}

/// What a route with a book form answers when the form or its cover is refused.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum FormFailures {
    /// A malformed form, field errors in `error`, or a cover that does not decode.
    #[response(status = 400)]
    Invalid(Failure),
    /// The caller has a book with this title.
    #[response(status = 409)]
    DuplicateTitle(Failure),
    /// The cover or the body is too large.
    #[response(status = 413)]
    TooLarge(Failure),
    /// Not a multipart form, or a cover that is not a JPEG, PNG, GIF or WebP image.
    #[response(status = 415)]
    NotAnImage(Failure),
    /// Too many uploads in flight, or a quota reached; `Retry-After` when waiting helps.
    #[response(status = 429)]
    TooMany(Failure),
}

/// `POST /users/login`'s body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Credentials {
    #[schema(min_length = 1, example = "ada@example.com")]
    email: String,
    #[schema(min_length = 1, example = "Sup3r-Secret!")]
    password: String,
}

/// A book as a multipart form: its text fields, then optionally its cover, which must
/// be the last part (it is streamed to storage as it arrives, after the fields are
/// checked).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BookForm {
    /// Required on create; unique among the caller's books.
    title: Option<String>,
    description: Option<String>,
    /// Required on create.
    category: Option<String>,
    /// A JPEG, PNG, GIF or WebP image; stored as a thumbnail of at most 150x150.
    #[schema(content_media_type = "application/octet-stream", value_type = Option<String>, format = Binary)]
    cover_image: Option<Vec<u8>>,
}
