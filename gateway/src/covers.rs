//! `GET /covers/{name}`: the thumbnail behind an `image_url`, streamed from the
//! library service. No token: an `<img>` cannot send one; the long random name is the
//! capability.

use axum::{
    body::Body,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderValue, header},
    response::Response,
};
use bookshelf_proto::library::v1::{GetCoverRequest, get_cover_response::Part};
use futures::StreamExt;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type},
};

use crate::{
    AppState,
    backends::Backends,
    envelope::Failure,
    error::{ApiError, Internal},
    extract::path_id,
};

/// Cover names never change content, so clients and proxies may keep them for a year.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// A thumbnail's bytes as the OpenAPI description names them: a binary body, which
/// client generators turn into a file, not an array of numbers.
struct ThumbnailBytes;

impl PartialSchema for ThumbnailBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for ThumbnailBytes {}

#[utoipa::path(
    get,
    path = "/covers/{name}",
    operation_id = "get_cover",
    tag = "books",
    summary = "A cover thumbnail, by the name in a book's `image_url`",
    params(("name" = String, Path, description = "The cover's name: 64 hexadecimal digits")),
    responses(
        (status = 200, description = "The thumbnail", content(
            (inline(ThumbnailBytes) = "image/jpeg"),
            (inline(ThumbnailBytes) = "image/png"),
            (inline(ThumbnailBytes) = "image/gif"),
            (inline(ThumbnailBytes) = "image/webp"),
        )),
        (status = 404, description = "No such cover", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path_id(name)?;
    let backends = &state.backends;
    let call = backends.unary_request(GetCoverRequest { cover_id: name }, None);
    let mut stream = backends
        .unary(backends.library.clone().get_cover(call))
        .await?;
    let content_type = match stream.next().await {
        Some(Ok(message)) => match message.part {
            Some(Part::ContentType(content_type)) => content_type,
            _ => {
                return Err(Internal::CoverWithoutContentType.into());
            }
        },
        Some(Err(status)) => return Err(status.into()),
        None => return Err(Internal::EmptyCoverStream.into()),
    };
    let content_type =
        HeaderValue::from_str(&content_type).map_err(|_| Internal::UnusableContentType)?;
    let chunks = stream.filter_map(|message| async move {
        match message {
            Ok(message) => match message.part {
                Some(Part::Chunk(chunk)) => Some(Ok(chunk)),
                _ => None,
            },
            Err(status) => Some(Err(std::io::Error::other(status.message().to_owned()))),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_FOREVER),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}
