//! Reading a client-streamed upload: one metadata message, then cover chunks, then the
//! message that says the upload is finished. A stream is read only while it makes
//! progress (each message within the idle timeout), holds memory only for the bytes it
//! has sent (taken from a budget shared by every upload), and counts as whole only when
//! its finish message matches what arrived.

use std::{sync::Arc, time::Duration};

use bookshelf_proto::library::v1::UploadFinished;
use bookshelf_runtime::errors::FieldViolation;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use super::error::LibraryError;

/// The request field of the finish message, as field violations name it.
const FINISHED_FIELD: &str = "finished";

/// One message of an upload stream.
pub(super) enum Part<M> {
    /// The metadata, which must come first and only once.
    Metadata(M),
    /// A piece of the cover.
    Chunk(Bytes),
    /// The end of the upload, with what the client sent.
    Finished(UploadFinished),
    /// A message with no part set.
    Empty,
}

/// How every upload stream is read.
#[derive(Debug, Clone)]
pub(crate) struct UploadRules {
    /// The largest cover accepted, in bytes.
    pub(crate) max_bytes: usize,
    /// How long a stream may send nothing before it is cancelled.
    idle: Duration,
    /// Cover bytes held in memory by every upload together; a chunk is kept only once
    /// its bytes are taken from here, so memory is bounded by bytes, not by streams.
    memory: Arc<Semaphore>,
}

impl UploadRules {
    /// Rules with a memory budget of `memory_bytes`, raised to one whole cover if
    /// smaller, so that a cover at the cap can always be received.
    pub(crate) fn new(max_bytes: usize, idle: Duration, memory_bytes: usize) -> Self {
        let budget = memory_bytes.max(max_bytes).min(Semaphore::MAX_PERMITS);
        Self {
            max_bytes,
            idle,
            memory: Arc::new(Semaphore::new(budget)),
        }
    }

    /// How long a stream may send nothing.
    pub(super) fn idle(&self) -> Duration {
        self.idle
    }

    /// Reads the finish message that ends a stream whose cover comes from a complete
    /// upload rather than from chunks.
    pub(super) async fn read_finished<M>(
        &self,
        stream: &mut (impl Stream<Item = Result<Part<M>, Status>> + Unpin),
    ) -> Result<UploadFinished, LibraryError> {
        loop {
            match self.next(stream).await? {
                Some(Part::Finished(finished)) => return Ok(finished),
                Some(Part::Empty) => {}
                Some(Part::Chunk(_)) => {
                    return Err(FieldViolation::new(
                        "cover_upload",
                        "names the cover: the stream must carry no chunks",
                    )
                    .into());
                }
                Some(Part::Metadata(_)) => {
                    return Err(FieldViolation::new("metadata", "must be sent once, first").into());
                }
                None => {
                    return Err(FieldViolation::new(
                        FINISHED_FIELD,
                        "the stream must end with the finished message",
                    )
                    .into());
                }
            }
        }
    }

    /// The next message, or `None` at the end of the stream; CANCELLED when the
    /// client sends nothing for the idle timeout. The server side needs this bound of
    /// its own: a caller without a deadline could otherwise hold its stream forever.
    async fn next<M>(
        &self,
        stream: &mut (impl Stream<Item = Result<Part<M>, Status>> + Unpin),
    ) -> Result<Option<Part<M>>, LibraryError> {
        match tokio::time::timeout(self.idle, stream.next()).await {
            Err(_) => Err(LibraryError::Idle(self.idle)),
            Ok(None) => Ok(None),
            Ok(Some(Err(status))) => Err(LibraryError::Stream(status)),
            Ok(Some(Ok(part))) => Ok(Some(part)),
        }
    }

    /// Reads the metadata message that opens an upload.
    pub(super) async fn read_metadata<M>(
        &self,
        stream: &mut (impl Stream<Item = Result<Part<M>, Status>> + Unpin),
    ) -> Result<M, LibraryError> {
        match self.next(stream).await? {
            Some(Part::Metadata(metadata)) => Ok(metadata),
            _ => Err(
                FieldViolation::new("metadata", "the first message must carry the metadata").into(),
            ),
        }
    }

    /// Reads the cover chunks up to the finish message and checks them against it:
    /// `None` if there were no cover bytes. Stops reading as soon as the total passes
    /// the cap. A stream that ends without the finish message was cut off, whatever
    /// its bytes would decode to, and is refused.
    pub(super) async fn read_cover<M>(
        &self,
        stream: &mut (impl Stream<Item = Result<Part<M>, Status>> + Unpin),
    ) -> Result<Option<Upload>, LibraryError> {
        let mut cover = Upload::new();
        loop {
            let part = self.next(stream).await?;
            match part {
                Some(Part::Chunk(chunk)) => {
                    if cover.len + chunk.len() > self.max_bytes {
                        return Err(LibraryError::CoverTooLarge {
                            limit: self.max_bytes,
                        });
                    }
                    let memory = self.reserve(chunk.len()).await?;
                    cover.push(chunk, memory);
                }
                Some(Part::Finished(finished)) => {
                    cover.check(&finished)?;
                    return Ok((cover.len > 0).then_some(cover));
                }
                Some(Part::Metadata(_)) => {
                    return Err(FieldViolation::new("metadata", "must be sent once, first").into());
                }
                Some(Part::Empty) => {}
                None => {
                    return Err(FieldViolation::new(
                        FINISHED_FIELD,
                        "the stream must end with the finished message",
                    )
                    .into());
                }
            }
        }
    }

    /// Takes `bytes` from the memory budget, waiting while other uploads hold it (the
    /// stream is not read meanwhile, so HTTP/2 flow control holds its bytes back).
    pub(super) async fn reserve(
        &self,
        bytes: usize,
    ) -> Result<Option<OwnedSemaphorePermit>, LibraryError> {
        if bytes == 0 {
            return Ok(None);
        }
        let wanted = u32::try_from(bytes).map_err(|_| LibraryError::CoverTooLarge {
            limit: self.max_bytes,
        })?;
        let acquire = self.memory.clone().acquire_many_owned(wanted);
        match tokio::time::timeout(self.idle, acquire).await {
            Err(_) => Err(LibraryError::Idle(self.idle)),
            Ok(permit) => Ok(Some(permit.expect("the memory budget is never closed"))),
        }
    }
}

/// A received cover, kept as the chunks it arrived in (slices of the received
/// frames: no copy, no spare capacity while it waits to be decoded), with its share
/// of the memory budget.
pub(super) struct Upload {
    chunks: Vec<Bytes>,
    len: usize,
    memory: Option<OwnedSemaphorePermit>,
}

impl Upload {
    fn new() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
            memory: None,
        }
    }

    /// A cover read whole from a complete resumable upload, with its share of the
    /// memory budget.
    pub(super) fn whole(bytes: Vec<u8>, memory: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            len: bytes.len(),
            chunks: vec![Bytes::from(bytes)],
            memory,
        }
    }

    fn push(&mut self, chunk: Bytes, memory: Option<OwnedSemaphorePermit>) {
        self.len += chunk.len();
        self.chunks.push(chunk);
        self.memory = match (self.memory.take(), memory) {
            (Some(mut held), Some(more)) => {
                held.merge(more);
                Some(held)
            }
            (held, more) => held.or(more),
        };
    }

    /// Whether `finished` describes exactly the bytes that arrived.
    pub(super) fn check(&self, finished: &UploadFinished) -> Result<(), LibraryError> {
        if finished.cover_bytes != self.len as u64 {
            return Err(FieldViolation::new(
                FINISHED_FIELD,
                format!(
                    "says {} cover bytes were sent, but {} arrived",
                    finished.cover_bytes, self.len
                ),
            )
            .into());
        }
        if finished.sha256.is_empty() {
            return Ok(());
        }
        // Computed only when the client sent one to compare with.
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for chunk in &self.chunks {
            digest.update(chunk);
        }
        let digest = digest.finish();
        if finished.sha256.as_slice() != digest.as_ref() {
            return Err(FieldViolation::new(
                FINISHED_FIELD,
                "sha256 does not match the cover bytes that arrived",
            )
            .into());
        }
        Ok(())
    }

    /// The cover as one buffer, made only when it is about to be decoded, and the
    /// share of the memory budget to release once decoding is done with it.
    pub(super) fn into_parts(self) -> (Vec<u8>, Option<OwnedSemaphorePermit>) {
        (self.chunks.concat(), self.memory)
    }
}
