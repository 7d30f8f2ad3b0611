//! What the OpenAPI description says of a book form: its parts, and the refusals
//! `POST /books/` and `PUT /books/{id}` may answer.

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses, PartialSchema, ToSchema,
    openapi::{KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type},
};

use crate::{
    envelope::described_refusals,
    uploads::{BookForm, COVER_FIELD, TEXT_FIELDS, UPLOAD_FIELD},
};

impl PartialSchema for BookForm {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let cover = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type("application/octet-stream")
            .description(Some(
                "A JPEG, PNG, GIF or WebP image; stored as a thumbnail of at most 150x150. \
                 Optional: leave the part out for a book without a cover (a part with no \
                 bytes is refused).",
            ));
        ObjectBuilder::new()
            .description(Some(
                "The parts may come in any order. A cover after the fields its upload needs \
                 (title and category to create, every field sent to update) is streamed to \
                 storage as it arrives; one before them is held until the form ends.",
            ))
            .property(
                TEXT_FIELDS[0],
                text("Required on create; unique among the caller's books."),
            )
            .property(TEXT_FIELDS[1], text("Free text."))
            .property(TEXT_FIELDS[2], text("Required on create."))
            .property(COVER_FIELD, cover)
            .property(
                UPLOAD_FIELD,
                text(
                    "Instead of cover_image: a finished resumable upload's id (the last \
                     segment of its `Location`), whose bytes become the cover; the upload \
                     is consumed.",
                ),
            )
            .into()
    }
}

impl ToSchema for BookForm {}

impl IntoResponses for BookForm {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        described_refusals(&[
            (
                400,
                "A malformed form, field errors in `error`, an empty cover part, or a cover that \
                 does not decode",
            ),
            (409, "The caller has a book with this title"),
            (413, "The cover or the body is too large"),
            (
                415,
                "Not a multipart form, or a cover that is not a JPEG, PNG, GIF or WebP image",
            ),
            (
                429,
                "Too many uploads in flight, or a quota reached; `Retry-After` when waiting helps",
            ),
            (
                503,
                "Too many covers held at once before their fields; see `Retry-After`",
            ),
        ])
    }
}
