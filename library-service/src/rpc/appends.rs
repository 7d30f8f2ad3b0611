//! `Write`: appending to a resumable upload. A Write first takes hold of the upload
//! with a conditional update (its offset must be the committed size, and no other
//! Write may hold it), then appends what arrives to a segment of its own and commits
//! its progress now and then and at its end, each commit again conditional on its
//! hold and on the size it last committed. A Write that ends without `finish_write`,
//! or whose client goes away, keeps what it committed; the rest of it runs to the end
//! in a task of its own, so a client that leaves cannot cut a commit in half.

use std::time::{Duration, Instant};

use bookshelf_proto::library::v1::{WriteRequest, WriteResponse};
use bookshelf_runtime::errors::FieldViolation;
use futures::StreamExt;
use tonic::Streaming;

use super::{
    convert::Uploader,
    error::LibraryError,
    resumable::{staged, upload_id},
    state::LibraryApi,
};
use crate::{
    domain::UploadId,
    in_flight::UploadSlot,
    storage::Appender,
    store::{Progress, Refusal, Segment, UploadRecord},
};

/// Bytes a Write appends between two commits to a folder: a cut-off Write loses at
/// most this much of what it sent.
const COMMIT_EVERY_BYTES: i64 = 4 * 1024 * 1024;

/// One Write holding its upload.
struct Held {
    upload: UploadRecord,
    writer: String,
    /// The size committed so far.
    committed: i64,
    /// Bytes received, committed or not.
    received: i64,
    /// When the last commit was made, which renewed the hold.
    committed_at: Instant,
}

impl LibraryApi {
    /// How long a Write's hold lasts without a commit: past it, another Write may
    /// take the upload (the holder's replica stopped, or its stream went silent).
    fn hold(&self) -> Duration {
        self.uploads.idle() * 3
    }

    /// `Write`: takes hold of the upload named by the first message, then appends the
    /// stream's data to it.
    pub(super) async fn append(
        &self,
        uploader: Uploader,
        mut stream: Streaming<WriteRequest>,
    ) -> Result<WriteResponse, LibraryError> {
        let slot = self.start_upload(&uploader).await?;
        let first = self.next_write(&mut stream).await?.ok_or_else(|| {
            LibraryError::from(FieldViolation::new("resource_name", "no message was sent"))
        })?;
        let id = upload_id(&first.resource_name)?;
        let writer = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now_ms();
        let until = now + self.hold().as_millis() as i64;
        let held = self
            .store
            .hold_upload(
                &uploader.owner,
                &id,
                first.write_offset,
                &writer,
                now,
                until,
            )
            .await?;
        let upload = match held {
            Ok(upload) => upload,
            Err(Refusal::Missing) => return Err(LibraryError::UploadNotFound),
            Err(Refusal::WrongOffset(committed)) => {
                return Err(LibraryError::WrongOffset { committed });
            }
            Err(Refusal::Busy(committed)) => return Err(LibraryError::UploadBusy { committed }),
            Err(Refusal::Complete(committed)) => {
                return Err(LibraryError::UploadComplete { committed });
            }
        };
        let held = Held {
            committed: upload.committed,
            received: upload.committed,
            upload,
            writer,
            committed_at: Instant::now(),
        };
        self.to_the_end(move |api| api.append_held(held, first, stream, slot))
            .await
    }

    /// The rest of a Write once it holds its upload: its data appended, what became
    /// durable committed, and its hold given up.
    async fn append_held(
        self,
        mut held: Held,
        first: WriteRequest,
        mut stream: Streaming<WriteRequest>,
        slot: UploadSlot,
    ) -> Result<WriteResponse, LibraryError> {
        let id = held.upload.id.clone();
        let segments = self.store.segments(&id).await?;
        let appender = self
            .staging
            .appender(
                staged(&held.upload),
                held.committed,
                &segments,
                &held.writer,
            )
            .await;
        let mut appender = match appender {
            Ok(appender) => appender,
            Err(error) => {
                self.store.release_upload(&id, &held.writer).await?;
                return Err(error.into());
            }
        };
        let fed = self
            .feed(&mut held, appender.as_mut(), first, &mut stream)
            .await;
        let finished = *fed.as_ref().unwrap_or(&false);
        let ended = async {
            let segment = appender.flush(finished).await?;
            self.commit(&mut held, segment, finished).await
        }
        .await;
        self.store.release_upload(&id, &held.writer).await?;
        drop(slot);
        fed?;
        ended?;
        tracing::debug!(upload_id = %id, committed = held.committed, finished, "write ended");
        Ok(WriteResponse {
            committed_size: held.committed,
        })
    }

    /// Appends the stream's data until its end: `true` if it finished the upload.
    async fn feed(
        &self,
        held: &mut Held,
        appender: &mut dyn Appender,
        first: WriteRequest,
        stream: &mut Streaming<WriteRequest>,
    ) -> Result<bool, LibraryError> {
        let mut message = first;
        let mut unflushed = 0;
        loop {
            check_message(&held.upload.id, &message, held.received)?;
            let length = message.data.len() as i64;
            let after = held.received + length;
            if after > self.uploads.max_bytes as i64 {
                return Err(LibraryError::CoverTooLarge {
                    limit: self.uploads.max_bytes,
                });
            }
            let declared = held.upload.length;
            if declared > 0 && (after > declared || (message.finish_write && after != declared)) {
                return Err(FieldViolation::new(
                    "data",
                    format!("the upload's length is {declared} bytes, but {after} were sent"),
                )
                .into());
            }
            if length > 0 {
                let segment = appender.push(message.data).await?;
                held.received = after;
                unflushed += length;
                if segment.is_some() {
                    unflushed = 0;
                    self.commit(held, segment, false).await?;
                }
            }
            if message.finish_write {
                return Ok(true);
            }
            if unflushed >= COMMIT_EVERY_BYTES || held.committed_at.elapsed() > self.hold() / 3 {
                unflushed = 0;
                let segment = appender.flush(false).await?;
                self.commit(held, segment, false).await?;
            }
            match self.next_write(stream).await? {
                Some(next) => message = next,
                None => return Ok(false),
            }
        }
    }

    /// Commits `segment` (and, when `complete`, the upload's end), renewing the hold;
    /// refused if the hold was lost or the size moved under it.
    async fn commit(
        &self,
        held: &mut Held,
        segment: Option<Segment>,
        complete: bool,
    ) -> Result<(), LibraryError> {
        if segment.is_none() && !complete {
            return Ok(());
        }
        let until = self.clock.now_ms() + self.hold().as_millis() as i64;
        let progress = Progress {
            writer: &held.writer,
            from: held.committed,
            segment: segment.as_ref(),
            complete,
            until,
        };
        if !self
            .store
            .commit_progress(&held.upload.id, progress)
            .await?
        {
            return Err(LibraryError::UploadBusy {
                committed: held.committed,
            });
        }
        if let Some(segment) = segment {
            held.committed = segment.start + segment.length;
        }
        held.committed_at = Instant::now();
        Ok(())
    }

    /// The next message of a Write, or `None` at its end; CANCELLED when the client
    /// sends nothing for the idle timeout.
    async fn next_write(
        &self,
        stream: &mut Streaming<WriteRequest>,
    ) -> Result<Option<WriteRequest>, LibraryError> {
        let idle = self.uploads.idle();
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => Err(LibraryError::Idle(idle)),
            Ok(None) => Ok(None),
            Ok(Some(Err(status))) => Err(LibraryError::Stream(status)),
            Ok(Some(Ok(message))) => Ok(Some(message)),
        }
    }
}

/// A later message may repeat the upload's name and its offset, as google.bytestream
/// clients do; when it does, they must be the ones the stream is writing.
fn check_message(id: &UploadId, message: &WriteRequest, at: i64) -> Result<(), LibraryError> {
    if !message.resource_name.is_empty() && message.resource_name != id.as_str() {
        return Err(FieldViolation::new("resource_name", "must name one upload per stream").into());
    }
    if message.write_offset != 0 && message.write_offset != at {
        return Err(FieldViolation::new(
            "write_offset",
            format!("must be {at}, where this stream's bytes have reached"),
        )
        .into());
    }
    Ok(())
}
