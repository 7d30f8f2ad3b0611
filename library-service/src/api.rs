//! `library.v1.LibraryService`: the gRPC edge, where requests become domain values.
//! The uploads of `CreateBook` and `UpdateBook` are in `book_uploads`, and listing
//! pages in `paging`.

use std::{pin::Pin, sync::Arc};

use bookshelf_proto::library::v1::{
    Book, CreateBookRequest, CreateBookResponse, DeleteBookRequest, DeleteBookResponse,
    GetBookRequest, GetBookResponse, GetCoverRequest, GetCoverResponse, ListBooksRequest,
    ListBooksResponse, UpdateBookRequest, UpdateBookResponse, get_cover_response,
    library_service_server::LibraryService,
};
use bookshelf_runtime::{
    clock::{Clock, timestamp},
    workers::WorkerPool,
};
use bookshelf_tokens::{Verifier, interceptor::caller};
use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    book_uploads::Uploader,
    covers::DecodeLimits,
    domain::{BookId, CoverId, UserId},
    error::LibraryError,
    in_flight::InFlight,
    paging::ListQuery,
    storage::CoverStore,
    store::{BookRecord, Store},
    uploads::UploadRules,
};

/// Size of the chunks a cover is streamed in.
const COVER_CHUNK: usize = 32 * 1024;

/// The state every RPC shares; cloning it clones handles only.
#[derive(Clone)]
pub struct LibraryApi {
    pub(crate) store: Store,
    pub(crate) covers: Arc<dyn CoverStore>,
    /// Where covers are decoded: one thread per core, so decoding is bounded in CPU and
    /// in the memory its buffers keep.
    pub(crate) decoders: WorkerPool,
    /// Uploads in flight per account.
    pub(crate) in_flight: InFlight,
    /// How upload streams are read: size cap, idle timeout, memory budget.
    pub(crate) uploads: UploadRules,
    pub(crate) limits: DecodeLimits,
    /// Checks an uploader's token again just before its upload commits.
    pub(crate) verifier: Verifier,
    /// The time books are created and updated at.
    pub(crate) clock: Clock,
}

/// A stored book as the API answers it.
pub(crate) fn book_message(book: BookRecord) -> Book {
    let (cover_id, cover_content_type) = match book.cover {
        Some(cover) => (cover.reference.id.into(), cover.reference.content_type),
        None => (String::new(), String::new()),
    };
    Book {
        id: book.id.into(),
        title: book.title,
        description: book.description,
        category: book.category,
        cover_id,
        cover_content_type,
        user_id: book.owner_id.into(),
        created_at: Some(timestamp(book.created_at)),
        updated_at: Some(timestamp(book.updated_at)),
    }
}

/// The owner of a request's books: the subject of its token, which the interceptor
/// has already checked.
pub(crate) fn owner<T>(request: &Request<T>) -> Result<UserId, Status> {
    caller(request).map(UserId::from)
}

impl LibraryApi {
    async fn list(
        &self,
        owner: &UserId,
        query: ListQuery,
    ) -> Result<ListBooksResponse, LibraryError> {
        let books = self
            .store
            .list(
                owner,
                query.category,
                query.start.as_ref(),
                query.fetch_limit(),
            )
            .await?;
        let (books, next_page_token) = query.page(books);
        Ok(ListBooksResponse {
            books: books.into_iter().map(book_message).collect(),
            next_page_token,
        })
    }

    async fn delete(&self, owner: &UserId, id: &BookId) -> Result<(), LibraryError> {
        let book = self
            .store
            .delete(owner, id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        if let Some(cover) = book.cover {
            self.covers.delete(&cover.reference.id).await?;
        }
        tracing::debug!(book_id = %book.id, "book deleted");
        Ok(())
    }

    /// Cover `id`'s media type and bytes, if `caller` may see it.
    async fn cover(
        &self,
        caller: Option<UserId>,
        id: &CoverId,
    ) -> Result<(String, Vec<u8>), LibraryError> {
        let cover = self.store.cover(id).await?.ok_or(LibraryError::NotFound)?;
        if caller.is_some_and(|caller| caller != cover.owner_id) {
            return Err(LibraryError::NotFound);
        }
        let bytes = self.covers.get(id).await?.ok_or(LibraryError::NotFound)?;
        Ok((cover.content_type, bytes))
    }
}

type CoverStream = Pin<Box<dyn Stream<Item = Result<GetCoverResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl LibraryService for LibraryApi {
    async fn create_book(
        &self,
        request: Request<Streaming<CreateBookRequest>>,
    ) -> Result<Response<CreateBookResponse>, Status> {
        let uploader = Uploader::of(&request)?;
        let book = self.create(uploader, request.into_inner()).await?;
        Ok(Response::new(CreateBookResponse { book: Some(book) }))
    }

    async fn update_book(
        &self,
        request: Request<Streaming<UpdateBookRequest>>,
    ) -> Result<Response<UpdateBookResponse>, Status> {
        let uploader = Uploader::of(&request)?;
        let book = self.update(uploader, request.into_inner()).await?;
        Ok(Response::new(UpdateBookResponse { book: Some(book) }))
    }

    async fn get_book(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<GetBookResponse>, Status> {
        let owner = owner(&request)?;
        let id = BookId::parse(&request.get_ref().id).ok_or(LibraryError::NotFound)?;
        let book = self
            .store
            .get(&owner, &id)
            .await
            .map_err(LibraryError::from)?
            .ok_or(LibraryError::NotFound)?;
        Ok(Response::new(GetBookResponse {
            book: Some(book_message(book)),
        }))
    }

    async fn list_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Status> {
        let owner = owner(&request)?;
        let query = ListQuery::try_from(request.into_inner()).map_err(LibraryError::from)?;
        Ok(Response::new(self.list(&owner, query).await?))
    }

    async fn delete_book(
        &self,
        request: Request<DeleteBookRequest>,
    ) -> Result<Response<DeleteBookResponse>, Status> {
        let owner = owner(&request)?;
        let id = BookId::parse(&request.get_ref().id).ok_or(LibraryError::NotFound)?;
        self.delete(&owner, &id).await?;
        Ok(Response::new(DeleteBookResponse {}))
    }

    type GetCoverStream = CoverStream;

    async fn get_cover(
        &self,
        request: Request<GetCoverRequest>,
    ) -> Result<Response<Self::GetCoverStream>, Status> {
        // No token: the cover name is the capability. A token: only the caller's covers.
        let caller = owner(&request).ok();
        let id = CoverId::parse(&request.get_ref().cover_id).ok_or(LibraryError::NotFound)?;
        let (content_type, bytes) = self.cover(caller, &id).await?;
        let bytes = bytes::Bytes::from(bytes);
        let chunks: Vec<_> = bytes
            .chunks(COVER_CHUNK)
            .map(|chunk| {
                Ok(GetCoverResponse {
                    part: Some(get_cover_response::Part::Chunk(bytes.slice_ref(chunk))),
                })
            })
            .collect();
        let first = Ok(GetCoverResponse {
            part: Some(get_cover_response::Part::ContentType(content_type)),
        });
        Ok(Response::new(Box::pin(futures::stream::iter(
            std::iter::once(first).chain(chunks),
        ))))
    }
}
