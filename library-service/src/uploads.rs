//! Reading a client-streamed upload: one metadata message, then cover chunks, with
//! the size cap enforced as the bytes arrive.

use futures::{Stream, StreamExt};
use tonic::Status;

use crate::error::LibraryError;

/// One message of an upload stream.
pub enum Part<M> {
    /// The metadata, which must come first and only once.
    Metadata(M),
    /// A piece of the cover.
    Chunk(Vec<u8>),
    /// A message with no part set.
    Empty,
}

/// Reads the metadata message that opens an upload.
pub async fn read_metadata<M>(
    stream: &mut (impl Stream<Item = Result<Part<M>, Status>> + Unpin),
) -> Result<M, LibraryError> {
    match stream.next().await {
        Some(Ok(Part::Metadata(metadata))) => Ok(metadata),
        Some(Err(status)) => Err(LibraryError::Stream(status)),
        _ => Err(bookshelf_runtime::errors::FieldViolation::new(
            "metadata",
            "the first message must carry the metadata",
        )
        .into()),
    }
}

/// A received cover, kept as the chunks it arrived in: no copy and no spare capacity
/// while it waits to be decoded.
#[derive(Debug, Default)]
pub struct Upload {
    chunks: Vec<Vec<u8>>,
    len: usize,
}

impl Upload {
    /// The cover as one buffer, made only when it is about to be decoded.
    pub fn into_bytes(self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// Reads the cover chunks to the end of the stream: `None` if there were none. Stops
/// reading as soon as the total passes `max_bytes`.
pub async fn read_cover<M>(
    stream: &mut (impl Stream<Item = Result<Part<M>, Status>> + Unpin),
    max_bytes: usize,
) -> Result<Option<Upload>, LibraryError> {
    let mut cover: Option<Upload> = None;
    while let Some(part) = stream.next().await {
        match part.map_err(LibraryError::Stream)? {
            Part::Chunk(chunk) => {
                let cover = cover.get_or_insert_with(Upload::default);
                if cover.len + chunk.len() > max_bytes {
                    return Err(LibraryError::CoverTooLarge { limit: max_bytes });
                }
                cover.len += chunk.len();
                cover.chunks.push(chunk);
            }
            Part::Metadata(_) => {
                return Err(bookshelf_runtime::errors::FieldViolation::new(
                    "metadata",
                    "must be sent once, first",
                )
                .into());
            }
            Part::Empty => {}
        }
    }
    Ok(cover)
}
