//! `GetCover`: a cover thumbnail, streamed in chunks after its media type.

use std::pin::Pin;

use bookshelf_proto::library::v1::{GetCoverRequest, GetCoverResponse, get_cover_response};
use futures::Stream;
use tonic::Status;

use super::{error::LibraryError, state::LibraryApi};
use crate::domain::{CoverId, UserId};

/// Size of the chunks a cover is streamed in.
const COVER_CHUNK: usize = 32 * 1024;

/// The messages of a `GetCover` answer.
pub(super) type CoverStream =
    Pin<Box<dyn Stream<Item = Result<GetCoverResponse, Status>> + Send + 'static>>;

impl LibraryApi {
    /// `GetCover`: the cover the request names, if `caller` (`None` without a token,
    /// when the name alone is the capability) may see it.
    pub(super) async fn cover(
        &self,
        caller: Option<UserId>,
        request: GetCoverRequest,
    ) -> Result<CoverStream, LibraryError> {
        let id = CoverId::parse(&request.cover_id).ok_or(LibraryError::NotFound)?;
        let cover = self.store.cover(&id).await?.ok_or(LibraryError::NotFound)?;
        if caller.is_some_and(|caller| caller != cover.owner_id) {
            return Err(LibraryError::NotFound);
        }
        let bytes = self.covers.get(&id).await?.ok_or(LibraryError::NotFound)?;
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
            part: Some(get_cover_response::Part::ContentType(cover.content_type)),
        });
        Ok(Box::pin(futures::stream::iter(
            std::iter::once(first).chain(chunks),
        )))
    }
}
