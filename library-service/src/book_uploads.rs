//! `CreateBook` and `UpdateBook`: client-streamed uploads, from the first message to
//! the committed row. Each holds one of its account's in-flight slots from start to
//! end, takes decoding capacity only once its cover has arrived whole, and checks its
//! caller's token again just before it commits, since an upload can outlast the
//! account that began it.

use bookshelf_proto::library::v1::{
    Book, BookChanges, CreateBookRequest, NewBook, UpdateBookRequest, create_book_request,
    update_book_request,
};
use bookshelf_runtime::errors::FieldViolation;
use futures::{Stream, StreamExt};
use tonic::{Request, Status, Streaming};

use crate::{
    api::{LibraryApi, book_message, owner},
    covers::make_thumbnail,
    domain::{BookEdit, BookFields, BookId, UserId},
    error::{COVER_FIELD, LibraryError},
    in_flight::UploadSlot,
    storage::PendingCover,
    store::{BookUpdate, NewBookRecord},
    uploads::{Part, Upload},
};

/// Who sent an upload: the owner its token named when the call began, and that
/// token, to check again before committing.
pub struct Uploader {
    owner: UserId,
    authorization: Option<String>,
}

impl Uploader {
    /// The uploader of `request`, whose token the interceptor has already checked.
    pub fn of<T>(request: &Request<T>) -> Result<Self, Status> {
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

fn create_part(message: CreateBookRequest) -> Part<NewBook> {
    match message.part {
        Some(create_book_request::Part::Metadata(metadata)) => Part::Metadata(metadata),
        Some(create_book_request::Part::Chunk(chunk)) => Part::Chunk(chunk),
        Some(create_book_request::Part::Finished(finished)) => Part::Finished(finished),
        None => Part::Empty,
    }
}

fn update_part(message: UpdateBookRequest) -> Part<BookChanges> {
    match message.part {
        Some(update_book_request::Part::Metadata(metadata)) => Part::Metadata(metadata),
        Some(update_book_request::Part::Chunk(chunk)) => Part::Chunk(chunk),
        Some(update_book_request::Part::Finished(finished)) => Part::Finished(finished),
        None => Part::Empty,
    }
}

/// An upload received whole, ready to be decoded and committed.
struct Received<T> {
    uploader: Uploader,
    fields: T,
    cover: Option<Upload>,
    slot: UploadSlot,
}

impl LibraryApi {
    /// Takes one of the uploader's in-flight slots once one is free, or refuses at
    /// once if its account's line is full.
    async fn start_upload(&self, uploader: &Uploader) -> Result<UploadSlot, LibraryError> {
        self.in_flight
            .start(&uploader.owner)
            .await
            .ok_or(LibraryError::TooManyUploads {
                limit: self.in_flight.capacity(),
            })
    }

    /// Refuses the commit if the uploader's token stopped holding while the upload
    /// was under way (the account was disabled, the feed went silent past its bound).
    fn recheck(&self, uploader: &Uploader) -> Result<(), LibraryError> {
        self.verifier
            .verify_bearer(uploader.authorization.as_deref())?;
        Ok(())
    }

    /// Decodes the upload on the decoding threads, a bounded number at a time, and
    /// stores its thumbnail under a new name. The upload's share of the memory budget
    /// is given back once its bytes are decoded.
    async fn store_cover(&self, upload: Upload) -> Result<PendingCover, LibraryError> {
        let limits = self.limits;
        let thumbnail = self
            .decoders
            .run(move || {
                let (bytes, memory) = upload.into_parts();
                let thumbnail = make_thumbnail(&bytes, limits);
                drop(memory);
                thumbnail
            })
            .await??;
        let content_type = thumbnail.format.content_type();
        let covers = self.covers.clone();
        let pending = PendingCover::write(covers, &thumbnail.bytes, content_type).await?;
        bookshelf_runtime::metrics::cover_stored(thumbnail.bytes.len());
        Ok(pending)
    }

    /// Carries out the rest of a request received whole in a task of its own, on a
    /// clone of the service, and waits for it. A handler is dropped wherever it waits
    /// when its client goes away; past this point that could leave a cover file half
    /// written, or delete the file of a row it had just committed. The request's
    /// in-flight slot and memory move into the task, so they still count the work
    /// going on for clients that left.
    async fn to_the_end<T, F>(&self, work: impl FnOnce(LibraryApi) -> F) -> Result<T, LibraryError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, LibraryError>> + Send + 'static,
    {
        tokio::spawn(work(self.clone())).await?
    }

    /// Reads an upload stream whole: the metadata (parsed by `parse` before any cover
    /// byte is read), the cover, and the finish message.
    async fn receive<M, T>(
        &self,
        uploader: Uploader,
        stream: impl Stream<Item = Result<Part<M>, Status>> + Unpin,
        parse: impl FnOnce(M) -> Result<T, LibraryError>,
    ) -> Result<Received<T>, LibraryError> {
        let slot = self.start_upload(&uploader).await?;
        let mut stream = stream;
        let metadata = self.uploads.read_metadata(&mut stream).await?;
        let fields = parse(metadata)?;
        let cover = self.uploads.read_cover(&mut stream).await?;
        Ok(Received {
            uploader,
            fields,
            cover,
            slot,
        })
    }

    /// `CreateBook`.
    pub(crate) async fn create(
        &self,
        uploader: Uploader,
        stream: Streaming<CreateBookRequest>,
    ) -> Result<Book, LibraryError> {
        let stream = stream.map(|message| message.map(create_part));
        let received = self.receive(uploader, stream, BookFields::try_from).await?;
        let Received {
            uploader,
            fields,
            cover,
            slot,
        } = received;
        let upload = cover.ok_or_else(|| FieldViolation::new(COVER_FIELD, "is required"))?;
        self.to_the_end(move |api| async move {
            let cover = api.store_cover(upload).await?;
            let inserted = async {
                api.recheck(&uploader)?;
                let book = NewBookRecord {
                    id: &BookId::random(),
                    owner_id: &uploader.owner,
                    fields: &fields,
                    cover: Some(&cover.stored),
                    now: api.clock.now_ms(),
                };
                Ok::<_, LibraryError>(api.store.insert(book).await?)
            }
            .await;
            let book = match inserted {
                Ok(book) => book,
                Err(error) => {
                    cover.discard().await;
                    return Err(error);
                }
            };
            cover.commit();
            drop(slot);
            tracing::debug!(book_id = %book.id, "book created");
            Ok(book_message(book))
        })
        .await
    }

    /// `UpdateBook`.
    pub(crate) async fn update(
        &self,
        uploader: Uploader,
        stream: Streaming<UpdateBookRequest>,
    ) -> Result<Book, LibraryError> {
        let stream = stream.map(|message| message.map(update_part));
        let owner = uploader.owner.clone();
        let store = self.store.clone();
        let received = self.receive(uploader, stream, BookEdit::try_from).await?;
        let Received {
            uploader,
            fields: BookEdit { id, changes },
            cover: upload,
            slot,
        } = received;
        let mut previous = store
            .get(&owner, &id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        self.to_the_end(move |api| async move {
            let cover = match upload {
                Some(upload) => Some(api.store_cover(upload).await?),
                None => None,
            };
            let updated = async {
                api.recheck(&uploader)?;
                loop {
                    let update = BookUpdate {
                        fields: &changes,
                        cover: cover.as_ref().map(|cover| &cover.stored),
                        replacing: previous.cover.as_ref(),
                    };
                    if let Some(book) = api
                        .store
                        .update(&owner, &id, update, api.clock.now_ms())
                        .await?
                    {
                        return Ok(book);
                    }
                    // Gone, or another update replaced the cover first: read it again.
                    // Each retry means another update succeeded, so this ends.
                    previous = api
                        .store
                        .get(&owner, &id)
                        .await?
                        .ok_or(LibraryError::NotFound)?;
                }
            }
            .await;
            let book = match updated {
                Ok(book) => book,
                Err(error) => {
                    if let Some(cover) = cover {
                        cover.discard().await;
                    }
                    return Err(error);
                }
            };
            if let Some(cover) = cover {
                cover.commit();
                if let Some(old) = previous.cover {
                    api.covers.delete(&old.reference.id).await?;
                }
            }
            drop(slot);
            tracing::debug!(book_id = %book.id, "book updated");
            Ok(book_message(book))
        })
        .await
    }
}
