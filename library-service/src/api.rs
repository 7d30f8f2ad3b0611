//! `library.v1.LibraryService`: the gRPC edge, where requests become domain values.

use std::{pin::Pin, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_proto::library::v1::{
    Book, CreateBookRequest, CreateBookResponse, DeleteBookRequest, DeleteBookResponse,
    GetBookRequest, GetBookResponse, GetCoverRequest, GetCoverResponse, ListBooksRequest,
    ListBooksResponse, UpdateBookRequest, UpdateBookResponse, create_book_request,
    get_cover_response, library_service_server::LibraryService, update_book_request,
};
use bookshelf_runtime::errors::FieldViolation;
use bookshelf_runtime::{
    clock::{now_ms, timestamp},
    workers::WorkerPool,
};
use bookshelf_tokens::{Caller, interceptor::caller};
use futures::{Stream, StreamExt};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    covers::{DecodeLimits, make_thumbnail},
    cut_offs::CutOff,
    domain::{BookTitle, Category, Description, parse_book_id, parse_cover_id},
    error::{COVER_FIELD, LibraryError},
    storage::{CoverStore, PendingCover},
    store::{BookRecord, BookUpdate, NewBookRecord, PageStart, Store},
    uploads::{Part, Upload, read_cover, read_metadata},
};

/// Books per page when the client does not say.
const DEFAULT_PAGE_SIZE: i64 = 50;
/// The most books one page may hold.
const MAX_PAGE_SIZE: i64 = 100;
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
    /// Covers being received at once. Each is held whole in memory until decoded, so
    /// this bounds the service's memory under many concurrent uploads; the others
    /// wait, and HTTP/2 flow control holds their bytes back at the sender.
    pub(crate) upload_permits: Arc<Semaphore>,
    pub(crate) limits: DecodeLimits,
    pub(crate) max_cover_bytes: usize,
}

fn book_message(book: BookRecord) -> Book {
    Book {
        id: book.id,
        title: book.title,
        description: book.description,
        category: book.category,
        cover_id: book.cover_id.unwrap_or_default(),
        cover_content_type: book.cover_content_type.unwrap_or_default(),
        user_id: book.owner_id,
        created_at: Some(timestamp(book.created_at)),
        updated_at: Some(timestamp(book.updated_at)),
    }
}

/// The token of the page that follows `book`: its (created_at, id), base64url.
pub(crate) fn page_token(book: &BookRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", book.created_at, book.id))
}

/// Where the page a token names starts; the empty token is the first page.
pub(crate) fn parse_page_token(token: &str) -> Result<PageStart, FieldViolation> {
    if token.is_empty() {
        return Ok(PageStart {
            created_at: i64::MIN,
            id: String::new(),
        });
    }
    let invalid = || FieldViolation::new("page_token", "is not a token this service issued");
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (created_at, id) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(PageStart {
        created_at: created_at.parse().map_err(|_| invalid())?,
        id: parse_book_id(id).ok_or_else(invalid)?,
    })
}

fn create_part(message: CreateBookRequest) -> Part<bookshelf_proto::library::v1::NewBook> {
    match message.part {
        Some(create_book_request::Part::Metadata(metadata)) => Part::Metadata(metadata),
        Some(create_book_request::Part::Chunk(chunk)) => Part::Chunk(chunk),
        None => Part::Empty,
    }
}

fn update_part(message: UpdateBookRequest) -> Part<bookshelf_proto::library::v1::BookChanges> {
    match message.part {
        Some(update_book_request::Part::Metadata(metadata)) => Part::Metadata(metadata),
        Some(update_book_request::Part::Chunk(chunk)) => Part::Chunk(chunk),
        None => Part::Empty,
    }
}

/// Gathers every field violation of a request, so a client learns of all at once.
fn check_all(results: Vec<Option<FieldViolation>>) -> Result<(), LibraryError> {
    let violations: Vec<_> = results.into_iter().flatten().collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(LibraryError::InvalidArgument(violations))
    }
}

impl LibraryApi {
    async fn upload_permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.upload_permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Decodes the upload on the decoding threads, a bounded number at a time, and stores
    /// its thumbnail under a new name.
    async fn store_cover(&self, upload: Upload) -> Result<PendingCover, LibraryError> {
        let limits = self.limits;
        let thumbnail = self
            .decoders
            .run(move || make_thumbnail(&upload.into_bytes(), limits))
            .await??;
        let content_type = thumbnail.format.content_type();
        let covers = self.covers.clone();
        Ok(PendingCover::write(covers, &thumbnail.bytes, content_type).await?)
    }

    async fn create(
        &self,
        owner: Caller,
        stream: Streaming<CreateBookRequest>,
        cut_off: CutOff,
    ) -> Result<Book, LibraryError> {
        let mut stream = stream.map(|message| message.map(create_part));
        let metadata = read_metadata(&mut stream).await?;
        let (title, description, category) = (
            BookTitle::parse(&metadata.title),
            Description::parse(&metadata.description),
            Category::parse(&metadata.category),
        );
        check_all(vec![
            title.as_ref().err().cloned(),
            description.as_ref().err().cloned(),
            category.as_ref().err().cloned(),
        ])?;
        let (title, description, category) = (title?, description?, category?);
        let receiving = self.upload_permit().await;
        let upload = read_cover(&mut stream, self.max_cover_bytes).await?;
        cut_off.check().map_err(LibraryError::Stream)?;
        let upload = upload.ok_or_else(|| FieldViolation::new(COVER_FIELD, "is required"))?;
        self.to_the_end(move |api| async move {
            let cover = api.store_cover(upload).await?;
            drop(receiving);
            let id = uuid::Uuid::new_v4().to_string();
            let book = api
                .store
                .insert(NewBookRecord {
                    id: &id,
                    owner_id: &owner.user_id,
                    title: &title,
                    description: &description,
                    category,
                    cover: Some((&cover.name, cover.content_type)),
                    now: now_ms(),
                })
                .await?;
            cover.commit();
            tracing::debug!(book_id = %book.id, "book created");
            Ok(book_message(book))
        })
        .await
    }

    /// Carries out the rest of a request received whole in a task of its own, on a
    /// clone of the service, and waits for it. A handler is dropped wherever it waits
    /// when its client goes away; past this point that could leave a cover file half
    /// written, or delete the file of a row it had just committed. The request's
    /// receiving permit moves into the task, so the bound on covers held in memory
    /// still counts the work going on for clients that left.
    async fn to_the_end<T, F>(&self, work: impl FnOnce(LibraryApi) -> F) -> Result<T, LibraryError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, LibraryError>> + Send + 'static,
    {
        tokio::spawn(work(self.clone())).await?
    }

    async fn update(
        &self,
        owner: Caller,
        stream: Streaming<UpdateBookRequest>,
        cut_off: CutOff,
    ) -> Result<Book, LibraryError> {
        let mut stream = stream.map(|message| message.map(update_part));
        let changes = read_metadata(&mut stream).await?;
        let id = parse_book_id(&changes.id).ok_or(LibraryError::NotFound)?;
        let title = changes.title.as_deref().map(BookTitle::parse).transpose();
        let description = changes
            .description
            .as_deref()
            .map(Description::parse)
            .transpose();
        let category = changes.category.as_deref().map(Category::parse).transpose();
        check_all(vec![
            title.as_ref().err().cloned(),
            description.as_ref().err().cloned(),
            category.as_ref().err().cloned(),
        ])?;
        let (title, description, category) = (title?, description?, category?);
        let previous = self
            .store
            .get(&owner.user_id, &id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        let receiving = self.upload_permit().await;
        let upload = read_cover(&mut stream, self.max_cover_bytes).await?;
        cut_off.check().map_err(LibraryError::Stream)?;
        self.to_the_end(move |api| async move {
            let cover = match upload {
                Some(upload) => Some(api.store_cover(upload).await?),
                None => None,
            };
            drop(receiving);
            let mut previous = previous;
            let book = loop {
                let update = BookUpdate {
                    title: title.as_ref(),
                    description: description.as_ref(),
                    category,
                    cover: cover
                        .as_ref()
                        .map(|cover| (cover.name.as_str(), cover.content_type)),
                    replacing: previous.cover_id.as_deref(),
                };
                if let Some(book) = api
                    .store
                    .update(&owner.user_id, &id, update, now_ms())
                    .await?
                {
                    break book;
                }
                // Gone, or another update replaced the cover first: read it again. Each
                // retry means another update succeeded, so this ends.
                previous = api
                    .store
                    .get(&owner.user_id, &id)
                    .await?
                    .ok_or(LibraryError::NotFound)?;
            };
            if let Some(cover) = cover {
                cover.commit();
                if let Some(old) = previous.cover_id {
                    api.covers.delete(&old).await?;
                }
            }
            tracing::debug!(book_id = %book.id, "book updated");
            Ok(book_message(book))
        })
        .await
    }

    async fn list(
        &self,
        owner: Caller,
        request: ListBooksRequest,
    ) -> Result<ListBooksResponse, LibraryError> {
        let category = match request.category.trim() {
            "" => None,
            category => Some(Category::parse(category)?),
        };
        let start = parse_page_token(&request.page_token)?;
        let page_size = match i64::from(request.page_size) {
            size if size <= 0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let mut books = self
            .store
            .list(&owner.user_id, category, &start, page_size + 1)
            .await?;
        let next_page_token = if books.len() as i64 > page_size {
            books.truncate(page_size as usize);
            books.last().map(page_token).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListBooksResponse {
            books: books.into_iter().map(book_message).collect(),
            next_page_token,
        })
    }

    async fn delete(&self, owner: Caller, id: &str) -> Result<(), LibraryError> {
        let id = parse_book_id(id).ok_or(LibraryError::NotFound)?;
        let book = self
            .store
            .delete(&owner.user_id, &id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        if let Some(cover) = book.cover_id {
            self.covers.delete(&cover).await?;
        }
        tracing::debug!(book_id = %book.id, "book deleted");
        Ok(())
    }

    async fn cover(
        &self,
        caller: Option<Caller>,
        cover_id: &str,
    ) -> Result<(String, Vec<u8>), LibraryError> {
        let cover_id = parse_cover_id(cover_id).ok_or(LibraryError::NotFound)?;
        let (owner, content_type) = self
            .store
            .cover(cover_id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        if caller.is_some_and(|caller| caller.user_id != owner) {
            return Err(LibraryError::NotFound);
        }
        let bytes = self
            .covers
            .get(cover_id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        Ok((content_type, bytes))
    }
}

type CoverStream = Pin<Box<dyn Stream<Item = Result<GetCoverResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl LibraryService for LibraryApi {
    async fn create_book(
        &self,
        request: Request<Streaming<CreateBookRequest>>,
    ) -> Result<Response<CreateBookResponse>, Status> {
        let owner = caller(&request)?;
        let cut_off = CutOff::of(&request);
        let book = self.create(owner, request.into_inner(), cut_off).await?;
        Ok(Response::new(CreateBookResponse { book: Some(book) }))
    }

    async fn update_book(
        &self,
        request: Request<Streaming<UpdateBookRequest>>,
    ) -> Result<Response<UpdateBookResponse>, Status> {
        let owner = caller(&request)?;
        let cut_off = CutOff::of(&request);
        let book = self.update(owner, request.into_inner(), cut_off).await?;
        Ok(Response::new(UpdateBookResponse { book: Some(book) }))
    }

    async fn get_book(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<GetBookResponse>, Status> {
        let owner = caller(&request)?;
        let id = parse_book_id(&request.get_ref().id).ok_or(LibraryError::NotFound)?;
        let book = self
            .store
            .get(&owner.user_id, &id)
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
        let owner = caller(&request)?;
        Ok(Response::new(self.list(owner, request.into_inner()).await?))
    }

    async fn delete_book(
        &self,
        request: Request<DeleteBookRequest>,
    ) -> Result<Response<DeleteBookResponse>, Status> {
        let owner = caller(&request)?;
        self.delete(owner, &request.get_ref().id).await?;
        Ok(Response::new(DeleteBookResponse {}))
    }

    type GetCoverStream = CoverStream;

    async fn get_cover(
        &self,
        request: Request<GetCoverRequest>,
    ) -> Result<Response<Self::GetCoverStream>, Status> {
        // No token: the cover name is the capability. A token: only the caller's covers.
        let caller = caller(&request).ok();
        let (content_type, bytes) = self.cover(caller, &request.get_ref().cover_id).await?;
        let chunks: Vec<_> = bytes
            .chunks(COVER_CHUNK)
            .map(|chunk| {
                Ok(GetCoverResponse {
                    part: Some(get_cover_response::Part::Chunk(chunk.to_vec())),
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
