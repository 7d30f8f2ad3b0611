//! `CreateBook` and `UpdateBook`: client-streamed uploads, from the first message to
//! the committed row, along one path for both. Each holds one of its account's
//! in-flight slots from start to end, takes decoding capacity only once its cover has
//! arrived whole, and checks its caller's token again just before it commits, since
//! an upload can outlast the account that began it.

use bookshelf_proto::library::v1::Book;
use futures::StreamExt;
use tonic::Streaming;

use bookshelf_proto::library::v1::UploadFinished;

use super::{
    convert::{UploadMessage, Uploader, book_message},
    error::LibraryError,
    resumable::{staged, upload_id},
    state::LibraryApi,
    streams::Upload,
};
use crate::{
    covers::make_thumbnail,
    domain::{BookEdit, BookFields, BookId, BookWrite, StoredCover, UploadId, UserId},
    in_flight::UploadSlot,
    storage::PendingCover,
    store::{BookRecord, BookUpdate, NewBookRecord, Segment, UploadRecord},
};

/// A complete resumable upload a book takes its cover from: consumed in the book's
/// transaction, its bytes removed once that commits.
struct Consumed {
    upload: UploadRecord,
    segments: Vec<Segment>,
}

/// What an upload received whole goes on to write: a new book, or changes to a book
/// as it was last read.
enum Commit {
    /// A new book.
    Create(BookFields),
    /// Changes to a book, and the book as last read.
    Update {
        edit: BookEdit,
        previous: Box<BookRecord>,
    },
}

impl LibraryApi {
    /// `CreateBook` and `UpdateBook`: reads the stream whole (the metadata, parsed
    /// before any cover byte is read, then the cover and the finish message), then
    /// stores the cover and writes the row.
    pub(super) async fn upload<M: UploadMessage + Send + 'static>(
        &self,
        uploader: Uploader,
        stream: Streaming<M>,
    ) -> Result<Book, LibraryError> {
        let slot = self.start_upload(&uploader).await?;
        let mut stream = stream.map(|message| message.map(M::into_part));
        let metadata = self.uploads.read_metadata(&mut stream).await?;
        let named = M::cover_upload(&metadata).to_owned();
        let write = M::write(metadata)?;
        let (upload, consumed) = if named.is_empty() {
            (self.uploads.read_cover(&mut stream).await?, None)
        } else {
            let id = upload_id(&named)?;
            let finished = self.uploads.read_finished(&mut stream).await?;
            let (cover, consumed) = self.read_upload(&uploader.owner, &id, &finished).await?;
            (Some(cover), Some(consumed))
        };
        let commit = match write {
            BookWrite::Create(fields) => Commit::Create(fields),
            BookWrite::Update(edit) => {
                let previous = self
                    .store
                    .get(&uploader.owner, &edit.id)
                    .await?
                    .ok_or(LibraryError::NotFound)?;
                Commit::Update {
                    edit,
                    previous: Box::new(previous),
                }
            }
        };
        self.to_the_end(move |api| api.finish(uploader, commit, upload, consumed, slot))
            .await
    }

    /// The bytes of the owner's complete upload `id`, checked against the finish
    /// message as streamed chunks are (when it states a size or a digest), within the
    /// cap and the memory budget.
    async fn read_upload(
        &self,
        owner: &UserId,
        id: &UploadId,
        finished: &UploadFinished,
    ) -> Result<(Upload, Consumed), LibraryError> {
        let upload = self
            .store
            .upload(owner, id, self.clock.now_ms())
            .await?
            .ok_or(LibraryError::UploadNotFound)?;
        if !upload.complete {
            return Err(LibraryError::UploadIncomplete);
        }
        let size = usize::try_from(upload.committed).unwrap_or(usize::MAX);
        if size > self.uploads.max_bytes {
            return Err(LibraryError::CoverTooLarge {
                limit: self.uploads.max_bytes,
            });
        }
        let memory = self.uploads.reserve(size).await?;
        let segments = self.store.segments(id).await?;
        let bytes = self.staging.read(staged(&upload), &segments).await?;
        let cover = Upload::whole(bytes, memory);
        if finished.cover_bytes != 0 || !finished.sha256.is_empty() {
            cover.check(finished)?;
        }
        Ok((cover, Consumed { upload, segments }))
    }

    /// The rest of an upload received whole: its cover stored, then its row written,
    /// or else its cover discarded.
    async fn finish(
        self,
        uploader: Uploader,
        commit: Commit,
        upload: Option<Upload>,
        consumed: Option<Consumed>,
        slot: UploadSlot,
    ) -> Result<Book, LibraryError> {
        let consumes = consumed.as_ref().map(|consumed| &consumed.upload.id);
        let done = match commit {
            Commit::Create(_) => "book created",
            Commit::Update { .. } => "book updated",
        };
        let cover = match upload {
            Some(upload) => Some(self.store_cover(upload).await?),
            None => None,
        };
        let stored = cover.as_ref().map(|cover| &cover.stored);
        let written = async {
            self.recheck(&uploader)?;
            self.write(&uploader.owner, commit, stored, consumes).await
        }
        .await;
        let (book, replaced) = match written {
            Ok(written) => written,
            Err(error) => {
                if let Some(cover) = cover {
                    cover.discard().await;
                }
                return Err(error);
            }
        };
        if let Some(cover) = cover {
            cover.commit();
            if let Some(old) = replaced {
                self.covers.delete(&old.reference.id).await?;
            }
        }
        if let Some(consumed) = consumed {
            let removed = self
                .staging
                .remove(staged(&consumed.upload), &consumed.segments)
                .await;
            if let Err(error) = removed {
                tracing::warn!(%error, "removing the bytes of a consumed upload");
            }
        }
        drop(slot);
        tracing::debug!(book_id = %book.id, "{done}");
        Ok(book_message(book))
    }

    /// Writes the row: the book, and with a new cover on an update, the cover it
    /// replaced.
    async fn write(
        &self,
        owner: &UserId,
        commit: Commit,
        cover: Option<&StoredCover>,
        consumes: Option<&UploadId>,
    ) -> Result<(BookRecord, Option<StoredCover>), LibraryError> {
        let (edit, mut previous) = match commit {
            Commit::Create(fields) => {
                let book = NewBookRecord {
                    id: &BookId::random(),
                    owner_id: owner,
                    fields: &fields,
                    cover,
                    consumes,
                    now: self.clock.now_ms(),
                };
                return Ok((self.store.insert(book).await?, None));
            }
            Commit::Update { edit, previous } => (edit, *previous),
        };
        loop {
            let update = BookUpdate {
                fields: &edit.changes,
                cover,
                replacing: previous.cover.as_ref(),
                consumes,
            };
            let now = self.clock.now_ms();
            if let Some(book) = self.store.update(owner, &edit.id, update, now).await? {
                let replaced = cover.and(previous.cover);
                return Ok((book, replaced));
            }
            // Gone, or another update replaced the cover first: read it again. Each
            // retry means another update succeeded, so this ends.
            previous = self
                .store
                .get(owner, &edit.id)
                .await?
                .ok_or(LibraryError::NotFound)?;
        }
    }

    /// Takes one of the uploader's in-flight slots once one is free, or refuses at
    /// once if its account's line is full.
    pub(super) async fn start_upload(
        &self,
        uploader: &Uploader,
    ) -> Result<UploadSlot, LibraryError> {
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
        let decoding = bookshelf_runtime::traces::internal("decode cover");
        let thumbnail = self
            .decoders
            .run(move || {
                let (bytes, memory) = upload.into_parts();
                let thumbnail = decoding.in_scope(|| make_thumbnail(&bytes, limits));
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
    pub(super) async fn to_the_end<T, F>(
        &self,
        work: impl FnOnce(LibraryApi) -> F,
    ) -> Result<T, LibraryError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, LibraryError>> + Send + 'static,
    {
        tokio::spawn(bookshelf_runtime::traces::in_request(work(self.clone()))).await?
    }
}
