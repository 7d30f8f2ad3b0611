//! Messages to domain values and back: the caller of a request, the metadata of an
//! upload, the parts of its stream, and a stored book as the API answers it.

use bookshelf_proto::auth::v1::scopes;
use bookshelf_proto::library::v1::{
    Book, BookChanges, CoverPart, CreateBookRequest, ListBooksRequest, NewBook, UpdateBookRequest,
    cover_part, create_book_request, update_book_request,
};
use bookshelf_runtime::{clock::timestamp, errors::FieldViolation};
use bookshelf_tokens::interceptor::{caller, service_caller};
use tonic::{Request, Status};

use super::{error::LibraryError, streams::Part};
use crate::{
    domain::{BookEdit, BookFields, BookId, BookWrite, FieldChanges, UserId},
    store::BookRecord,
};

/// A stored book as the API answers it.
pub(super) fn book_message(book: BookRecord) -> Book {
    let (cover_id, cover_content_type) = match book.cover {
        Some(cover) => (cover.reference.id.into(), cover.reference.content_type),
        None => (String::new(), String::new()),
    };
    Book {
        id: book.id.into(),
        title: book.title.into(),
        description: book.description.into(),
        category: book.category.as_str().to_owned(),
        cover_id,
        cover_content_type,
        user_id: book.owner_id.into(),
        created_at: Some(timestamp(book.created_at)),
        updated_at: Some(timestamp(book.updated_at)),
    }
}

/// The owner of a request's books: the subject of its token, which the interceptor
/// has already checked.
pub(super) fn owner<T>(request: &Request<T>) -> Result<UserId, Status> {
    caller(request).map(UserId::from)
}

/// Whose books a listing reads: the caller's own; or, when it names `owner_id`, that
/// account's, which only a service token granting `books:read` may ask.
pub(super) fn listed_owner(request: &Request<ListBooksRequest>) -> Result<UserId, Status> {
    let named = &request.get_ref().owner_id;
    if named.is_empty() {
        return owner(request);
    }
    service_caller(request, scopes::BOOKS_READ)?;
    UserId::named(named).ok_or_else(|| {
        LibraryError::from(FieldViolation::new("owner_id", "is not an account id")).into()
    })
}

/// Who sent an upload: the owner its token named when the call began, and that
/// token, to check again before committing.
pub(super) struct Uploader {
    /// The owner of the books it writes.
    pub(super) owner: UserId,
    /// Its `authorization` metadata.
    pub(super) authorization: Option<String>,
}

impl Uploader {
    /// The uploader of `request`, whose token the interceptor has already checked.
    pub(super) fn of<T>(request: &Request<T>) -> Result<Self, Status> {
        Ok(Self {
            owner: owner(request)?,
            authorization: request
                .metadata()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        })
    }
}

/// A cover's part of an upload stream, the same in `CreateBook` and `UpdateBook`.
fn cover_part<M>(cover: CoverPart) -> Part<M> {
    match cover.part {
        Some(cover_part::Part::Chunk(chunk)) => Part::Chunk(chunk),
        Some(cover_part::Part::Finished(finished)) => Part::Finished(finished),
        None => Part::Empty,
    }
}

/// A message of an upload stream, `CreateBook`'s or `UpdateBook`'s: what the one
/// upload path needs to know of each.
pub(super) trait UploadMessage {
    /// The metadata that opens the stream.
    type Metadata;

    /// The message as a part of the upload.
    fn into_part(self) -> Part<Self::Metadata>;

    /// What the metadata asks to write.
    fn write(metadata: Self::Metadata) -> Result<BookWrite, LibraryError>;

    /// The complete upload the metadata names as the cover, or empty.
    fn cover_upload(metadata: &Self::Metadata) -> &str;
}

impl UploadMessage for CreateBookRequest {
    type Metadata = NewBook;

    fn into_part(self) -> Part<NewBook> {
        match self.part {
            Some(create_book_request::Part::Metadata(metadata)) => Part::Metadata(metadata),
            Some(create_book_request::Part::Cover(cover)) => cover_part(cover),
            None => Part::Empty,
        }
    }

    fn cover_upload(book: &NewBook) -> &str {
        &book.cover_upload
    }

    fn write(book: NewBook) -> Result<BookWrite, LibraryError> {
        let fields = BookFields::parse(&book.title, &book.description, &book.category)
            .map_err(LibraryError::InvalidArgument)?;
        Ok(BookWrite::Create(fields))
    }
}

impl UploadMessage for UpdateBookRequest {
    type Metadata = BookChanges;

    fn into_part(self) -> Part<BookChanges> {
        match self.part {
            Some(update_book_request::Part::Metadata(metadata)) => Part::Metadata(metadata),
            Some(update_book_request::Part::Cover(cover)) => cover_part(cover),
            None => Part::Empty,
        }
    }

    fn cover_upload(changes: &BookChanges) -> &str {
        &changes.cover_upload
    }

    /// An id that is not a UUID names no book, so it is answered as one that is
    /// missing, before any field is looked at.
    fn write(changes: BookChanges) -> Result<BookWrite, LibraryError> {
        let id = BookId::parse(&changes.id).ok_or(LibraryError::NotFound)?;
        let changes = FieldChanges::parse(
            changes.title.as_deref(),
            changes.description.as_deref(),
            changes.category.as_deref(),
        )
        .map_err(LibraryError::InvalidArgument)?;
        Ok(BookWrite::Update(BookEdit { id, changes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let book = NewBook {
            title: " ".into(),
            description: "fine".into(),
            category: "cookery".into(),
            cover_upload: String::new(),
        };
        match CreateBookRequest::write(book) {
            Err(LibraryError::InvalidArgument(violations)) => assert_eq!(violations.len(), 2),
            other => panic!("expected two violations, got {other:?}"),
        }
    }
}
