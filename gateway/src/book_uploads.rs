//! The two upload calls, `CreateBook` and `UpdateBook`. Their client-stream messages
//! are built in one function each, [`create_message`] and [`update_message`], and
//! nowhere else.

use std::time::Duration;

use bookshelf_proto::library::v1::{
    Book, BookChanges, CoverPart, CreateBookRequest, NewBook, UpdateBookRequest, cover_part,
    create_book_request, library_service_client::LibraryServiceClient, update_book_request,
};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    backends::{BackendChannel, Backends, request},
    extract::BearerToken,
    uploads::{TEXT_FIELDS, UPLOAD_FIELD, UploadCall, UploadPart},
};

/// `CreateBook`, for `POST /books/`.
pub(crate) struct Create {
    client: LibraryServiceClient<BackendChannel>,
    token: BearerToken,
    deadline: Duration,
}

impl Create {
    /// The call, on the uploads' connection, with the caller's token.
    pub(crate) fn new(backends: &Backends, token: BearerToken) -> Self {
        Self {
            client: backends.library_uploads.clone(),
            token,
            deadline: backends.upload_timeout,
        }
    }
}

impl UploadCall for Create {
    type Message = CreateBookRequest;
    type Answer = Option<Book>;
    const NEEDED_FIELDS: &'static [&'static str] = &["title", "category"];

    fn message(&self, part: UploadPart<'_>) -> CreateBookRequest {
        create_message(part)
    }

    fn start(
        &self,
        stream: ReceiverStream<CreateBookRequest>,
    ) -> JoinHandle<Result<Option<Book>, tonic::Status>> {
        let call = request(stream, Some(&self.token), self.deadline);
        let mut client = self.client.clone();
        tokio::spawn(async move { Ok(client.create_book(call).await?.into_inner().book) })
    }
}

/// `UpdateBook`, for `PUT /books/{id}`.
pub(crate) struct Update {
    id: String,
    client: LibraryServiceClient<BackendChannel>,
    token: BearerToken,
    deadline: Duration,
}

impl Update {
    /// The call changing book `id`, on the uploads' connection, with the caller's
    /// token.
    pub(crate) fn new(backends: &Backends, token: BearerToken, id: String) -> Self {
        Self {
            id,
            client: backends.library_uploads.clone(),
            token,
            deadline: backends.upload_timeout,
        }
    }
}

impl UploadCall for Update {
    type Message = UpdateBookRequest;
    type Answer = Option<Book>;
    // Every field is optional, so any may still follow the cover.
    const NEEDED_FIELDS: &'static [&'static str] = &TEXT_FIELDS;

    fn message(&self, part: UploadPart<'_>) -> UpdateBookRequest {
        update_message(&self.id, part)
    }

    fn start(
        &self,
        stream: ReceiverStream<UpdateBookRequest>,
    ) -> JoinHandle<Result<Option<Book>, tonic::Status>> {
        let call = request(stream, Some(&self.token), self.deadline);
        let mut client = self.client.clone();
        tokio::spawn(async move { Ok(client.update_book(call).await?.into_inner().book) })
    }
}

/// The `CreateBookRequest` that carries `part`. Absent fields are empty, so the
/// library reports each required one by name.
fn create_message(part: UploadPart<'_>) -> CreateBookRequest {
    use create_book_request::Part;
    let part = match part {
        UploadPart::Fields(fields) => {
            let field = |name| fields.get(name).cloned().unwrap_or_default();
            Part::Metadata(NewBook {
                title: field("title"),
                description: field("description"),
                category: field("category"),
                cover_upload: field(UPLOAD_FIELD),
            })
        }
        UploadPart::Chunk(bytes) => Part::Cover(cover(cover_part::Part::Chunk(bytes))),
        UploadPart::Finished(finished) => Part::Cover(cover(cover_part::Part::Finished(finished))),
    };
    CreateBookRequest { part: Some(part) }
}

/// The `UpdateBookRequest` of book `id` that carries `part`. Absent fields stay as
/// they are.
fn update_message(id: &str, part: UploadPart<'_>) -> UpdateBookRequest {
    use update_book_request::Part;
    let part = match part {
        UploadPart::Fields(fields) => Part::Metadata(BookChanges {
            id: id.to_owned(),
            title: fields.get("title").cloned(),
            description: fields.get("description").cloned(),
            category: fields.get("category").cloned(),
            cover_upload: fields.get(UPLOAD_FIELD).cloned().unwrap_or_default(),
        }),
        UploadPart::Chunk(bytes) => Part::Cover(cover(cover_part::Part::Chunk(bytes))),
        UploadPart::Finished(finished) => Part::Cover(cover(cover_part::Part::Finished(finished))),
    };
    UpdateBookRequest { part: Some(part) }
}

/// A cover chunk or the finished message, in the shape both requests share.
fn cover(part: cover_part::Part) -> CoverPart {
    CoverPart { part: Some(part) }
}
