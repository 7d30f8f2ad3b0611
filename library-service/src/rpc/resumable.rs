//! `library.v1.UploadService`: resumable uploads in the shape of google.bytestream.
//! Creating, querying and cancelling are here; appending is in [`super::appends`].
//! The upload's record lives in the database, so any replica can take the next
//! Write, and its bytes in the staging store beside the covers.

use bookshelf_proto::library::v1::{
    CancelUploadRequest, CancelUploadResponse, CreateUploadRequest, CreateUploadResponse,
    QueryWriteStatusRequest, QueryWriteStatusResponse, WriteRequest, WriteResponse,
    upload_service_server::UploadService,
};
use bookshelf_runtime::clock::timestamp;
use tonic::{Request, Response, Status, Streaming};

use super::{
    convert::{Uploader, owner},
    error::LibraryError,
    state::LibraryApi,
};
use crate::{
    domain::{UploadId, UserId},
    storage::Staged,
    store::{NewUpload, UploadRecord},
};

/// The upload a request names, parsed: a name the service could not have chosen names
/// nothing.
pub(super) fn upload_id(name: &str) -> Result<UploadId, LibraryError> {
    UploadId::parse(name).ok_or(LibraryError::UploadNotFound)
}

/// Where an upload's bytes are.
pub(super) fn staged(upload: &UploadRecord) -> Staged<'_> {
    Staged {
        id: &upload.id,
        multipart_id: upload.multipart_id.as_deref(),
    }
}

impl LibraryApi {
    /// Starts an upload: its bytes' place in staging, then its record, which counts
    /// its size (the cap, when not declared) against the owner's quota.
    async fn create_upload(
        &self,
        owner: &UserId,
        request: CreateUploadRequest,
    ) -> Result<CreateUploadResponse, LibraryError> {
        let max = self.uploads.max_bytes as u64;
        if request.length > max {
            return Err(LibraryError::CoverTooLarge {
                limit: self.uploads.max_bytes,
            });
        }
        let reserved = if request.length == 0 {
            max
        } else {
            request.length
        };
        let id = UploadId::random();
        let multipart_id = self.staging.begin(&id).await?;
        let now = self.clock.now_ms();
        let expires_at = now + self.upload_expiry.as_millis() as i64;
        let created = self
            .store
            .create_upload(NewUpload {
                id: &id,
                owner_id: owner,
                length: request.length as i64,
                reserved: reserved as i64,
                multipart_id: multipart_id.as_deref(),
                now,
                expires_at,
            })
            .await;
        if let Err(error) = created {
            let place = Staged {
                id: &id,
                multipart_id: multipart_id.as_deref(),
            };
            if let Err(error) = self.staging.remove(place, &[]).await {
                tracing::warn!(%error, "removing the staging of an upload not created");
            }
            return Err(error.into());
        }
        tracing::debug!(upload_id = %id, "upload created");
        Ok(CreateUploadResponse {
            resource_name: id.as_str().to_owned(),
            expires_at: Some(timestamp(expires_at)),
            max_bytes: max,
            min_append_bytes: self.staging.min_append(),
        })
    }

    async fn query_upload(
        &self,
        owner: &UserId,
        request: QueryWriteStatusRequest,
    ) -> Result<QueryWriteStatusResponse, LibraryError> {
        let id = upload_id(&request.resource_name)?;
        let upload = self
            .store
            .upload(owner, &id, self.clock.now_ms())
            .await?
            .ok_or(LibraryError::UploadNotFound)?;
        Ok(QueryWriteStatusResponse {
            committed_size: upload.committed,
            complete: upload.complete,
            length: upload.length as u64,
            expires_at: Some(timestamp(upload.expires_at)),
        })
    }

    /// Removes the upload's record (its reservation given back), then its bytes. A
    /// Write still appending finds its hold gone at its next commit.
    async fn cancel_upload(
        &self,
        owner: &UserId,
        request: CancelUploadRequest,
    ) -> Result<CancelUploadResponse, LibraryError> {
        let id = upload_id(&request.resource_name)?;
        let segments = self.store.segments(&id).await?;
        let upload = self
            .store
            .cancel_upload(owner, &id)
            .await?
            .ok_or(LibraryError::UploadNotFound)?;
        self.staging.remove(staged(&upload), &segments).await?;
        Ok(CancelUploadResponse {})
    }
}

#[tonic::async_trait]
impl UploadService for LibraryApi {
    async fn create_upload(
        &self,
        request: Request<CreateUploadRequest>,
    ) -> Result<Response<CreateUploadResponse>, Status> {
        let owner = owner(&request)?;
        let created = LibraryApi::create_upload(self, &owner, request.into_inner()).await?;
        Ok(Response::new(created))
    }

    async fn write(
        &self,
        request: Request<Streaming<WriteRequest>>,
    ) -> Result<Response<WriteResponse>, Status> {
        let uploader = Uploader::of(&request)?;
        let written = self.append(uploader, request.into_inner()).await?;
        Ok(Response::new(written))
    }

    async fn query_write_status(
        &self,
        request: Request<QueryWriteStatusRequest>,
    ) -> Result<Response<QueryWriteStatusResponse>, Status> {
        let owner = owner(&request)?;
        Ok(Response::new(
            self.query_upload(&owner, request.into_inner()).await?,
        ))
    }

    async fn cancel_upload(
        &self,
        request: Request<CancelUploadRequest>,
    ) -> Result<Response<CancelUploadResponse>, Status> {
        let owner = owner(&request)?;
        let cancelled = LibraryApi::cancel_upload(self, &owner, request.into_inner()).await?;
        Ok(Response::new(cancelled))
    }
}
