//! Resumable uploads as draft-ietf-httpbis-resumable-upload-05 describes them
//! (interop version 6, which tus-js-client speaks as `ietf-draft-05`): an upload
//! resource created by `POST /uploads/`, its offset read by `HEAD`, appended to by
//! `PATCH` (`Upload-Offset`, `application/partial-upload`), cancelled by `DELETE`,
//! its limits announced in `Upload-Limit`. Each call is the library's
//! `UploadService` in the shape of google.bytestream; the gateway keeps nothing, so
//! any replica takes any request. A finished upload becomes a cover when a book form
//! names it in `cover_upload`.

use axum::{
    body::Body,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bookshelf_proto::library::v1::{
    CancelUploadRequest, CreateUploadRequest, QueryWriteStatusRequest, WriteRequest,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::{
    AppState,
    backends::{Backends, request},
    error::{ApiError, BadBody, Internal, TooLarge, UPLOAD_OFFSET, WrongContentType},
    extract::BearerToken,
};

/// Whether a request carries the upload's last bytes (`?1`) or not (`?0`), and
/// whether an upload is complete.
const UPLOAD_COMPLETE: &str = "upload-complete";
/// The upload's size once complete, when the client knows it.
const UPLOAD_LENGTH: &str = "upload-length";
/// The limits of an upload: `max-size`, `min-append-size` and `expires`.
const UPLOAD_LIMIT: &str = "upload-limit";
/// The draft's interop version this server speaks, sent on every answer.
const INTEROP_VERSION: &str = "upload-draft-interop-version";
/// Draft 05 of the resumable uploads draft.
const SPOKEN_VERSION: HeaderValue = HeaderValue::from_static("6");
/// The media type of an append's body.
const PARTIAL_UPLOAD: &str = "application/partial-upload";

/// The draft's headers of one answer.
#[derive(Default)]
struct UploadHeaders {
    location: Option<String>,
    offset: Option<i64>,
    complete: Option<bool>,
    length: Option<u64>,
    limit: Option<String>,
}

impl UploadHeaders {
    fn answer(self, status: StatusCode) -> Response {
        let mut response = status.into_response();
        let headers = response.headers_mut();
        headers.insert(INTEROP_VERSION, SPOKEN_VERSION);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(location) = self.location.and_then(|l| HeaderValue::try_from(l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let Some(offset) = self.offset {
            headers.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        }
        if let Some(complete) = self.complete {
            let value = if complete { "?1" } else { "?0" };
            headers.insert(UPLOAD_COMPLETE, HeaderValue::from_static(value));
        }
        if let Some(length) = self.length.filter(|length| *length > 0) {
            headers.insert(UPLOAD_LENGTH, HeaderValue::from(length));
        }
        if let Some(limit) = self.limit.and_then(|l| HeaderValue::try_from(l).ok()) {
            headers.insert(UPLOAD_LIMIT, limit);
        }
        response
    }
}

/// `Upload-Limit`: the most bytes, the smallest append counted before the last (when
/// the store has one), and the seconds left before the upload expires.
fn limit(max: u64, min_append: u64, expires_at: Option<&prost_types::Timestamp>) -> String {
    let mut limit = format!("max-size={max}");
    if min_append > 0 {
        limit.push_str(&format!(", min-append-size={min_append}"));
    }
    if let Some(expires_at) = expires_at {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |now| now.as_secs() as i64);
        limit.push_str(&format!(", expires={}", (expires_at.seconds - now).max(0)));
    }
    limit
}

/// A structured-field boolean header (`?1` or `?0`).
fn flag(headers: &HeaderMap, name: &'static str) -> Result<Option<bool>, ApiError> {
    match headers.get(name).map(HeaderValue::as_bytes) {
        None => Ok(None),
        Some(b"?1") => Ok(Some(true)),
        Some(b"?0") => Ok(Some(false)),
        Some(_) => Err(BadBody::UploadHeader(name).into()),
    }
}

/// A non-negative integer header.
fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<i64>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .filter(|number| *number >= 0)
                .ok_or_else(|| BadBody::UploadHeader(name).into())
        })
        .transpose()
}

/// The upload a path names, as the library takes it.
fn upload_name(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id).map_err(|_| ApiError::UploadNotFound)
}

/// A 404 from the library on these routes is always about the upload.
fn on_missing(error: ApiError) -> ApiError {
    error.on_code(Code::NotFound, ApiError::UploadNotFound)
}

#[utoipa::path(
    options,
    path = "/uploads/",
    operation_id = "upload_limits",
    tag = "uploads",
    summary = "The limits of resumable uploads",
    responses((status = 204, description = "`Upload-Limit` says the largest upload (`max-size`)")),
)]
pub(crate) async fn options(State(state): State<AppState>) -> Response {
    let mut response = UploadHeaders {
        limit: Some(format!("max-size={}", state.max_cover_bytes)),
        ..UploadHeaders::default()
    }
    .answer(StatusCode::NO_CONTENT);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("OPTIONS, POST"));
    response
}

#[utoipa::path(
    post,
    path = "/uploads/",
    operation_id = "create_upload",
    tag = "uploads",
    summary = "Start a resumable upload, with none, some or all of its bytes",
    description = "`Upload-Complete: ?1` when the body holds every byte, `?0` otherwise; \
                   `Upload-Length` the size once complete, when known. Answers \
                   `Location` (the upload's URL), `Upload-Offset` and `Upload-Limit` \
                   (`max-size`, `expires` in seconds, and on an object store \
                   `min-append-size`). An unfinished upload counts against the caller's \
                   cover storage quota until a book names it, it is deleted, or it expires.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The upload, at `Location`"),
        BearerToken,
        (status = 400, description = "A missing or malformed `Upload-Complete`, `Upload-Length`", body = crate::envelope::Failure),
        (status = 413, description = "More bytes than a cover may have", body = crate::envelope::Failure),
        (status = 429, description = "The quota has no room for the upload, or too many uploads in flight", body = crate::envelope::Failure),
        Backends,
    ),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    token: BearerToken,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let complete =
        flag(&headers, UPLOAD_COMPLETE)?.ok_or(BadBody::UploadHeader(UPLOAD_COMPLETE))?;
    let length = number(&headers, UPLOAD_LENGTH)?.unwrap_or(0) as u64;
    if length > state.max_cover_bytes as u64 {
        return Err(TooLarge::Cover {
            max_bytes: state.max_cover_bytes,
        }
        .into());
    }
    let backends = &state.backends;
    let message = CreateUploadRequest { length };
    let mut client = backends.resumable.clone();
    let call = client.create_upload(backends.unary_request(message, Some(&token)));
    let created = backends.unary(call).await?;
    let id = created.resource_name;
    let offset = write(&state, &token, &id, 0, complete, body).await?;
    Ok(UploadHeaders {
        location: Some(format!("/uploads/{id}")),
        offset: Some(offset),
        complete: Some(complete),
        length: Some(length),
        limit: Some(limit(
            created.max_bytes,
            created.min_append_bytes,
            created.expires_at.as_ref(),
        )),
    }
    .answer(StatusCode::CREATED))
}

#[utoipa::path(
    head,
    path = "/uploads/{id}",
    operation_id = "upload_status",
    tag = "uploads",
    summary = "How much of an upload has arrived",
    params(("id" = String, Path, description = "The upload, as `Location` named it")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "`Upload-Offset`, `Upload-Complete`, `Upload-Length` when known, `Upload-Limit`"),
        BearerToken,
        (status = 404, description = "No such upload among the caller's, or it expired"),
        Backends,
    ),
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    token: BearerToken,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let resource_name = upload_name(id)?;
    let backends = &state.backends;
    let message = QueryWriteStatusRequest { resource_name };
    let mut client = backends.resumable.clone();
    let call = client.query_write_status(backends.unary_request(message, Some(&token)));
    let status = backends.unary(call).await.map_err(on_missing)?;
    Ok(UploadHeaders {
        offset: Some(status.committed_size),
        complete: Some(status.complete),
        length: Some(status.length),
        limit: Some(limit(
            state.max_cover_bytes as u64,
            0,
            status.expires_at.as_ref(),
        )),
        ..UploadHeaders::default()
    }
    .answer(StatusCode::NO_CONTENT))
}

#[utoipa::path(
    patch,
    path = "/uploads/{id}",
    operation_id = "append_upload",
    tag = "uploads",
    summary = "Append to an upload where it stopped",
    description = "`Upload-Offset` must be the upload's offset (as `HEAD` tells); \
                   `Upload-Complete: ?1` when these are the last bytes. The bytes that \
                   arrive are kept even if the connection breaks: ask `HEAD` and go on.",
    params(("id" = String, Path, description = "The upload")),
    request_body(content = Vec<u8>, content_type = "application/partial-upload"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Appended: `Upload-Offset` is the new offset"),
        BearerToken,
        (status = 400, description = "A missing or malformed `Upload-Offset` or `Upload-Complete`", body = crate::envelope::Failure),
        (status = 404, description = "No such upload among the caller's, or it expired", body = crate::envelope::Failure),
        (status = 409, description = "`Upload-Offset` is not the upload's (the answer's `Upload-Offset` is), another append is under way, or the upload is complete", body = crate::envelope::Failure),
        (status = 413, description = "More bytes than a cover may have", body = crate::envelope::Failure),
        (status = 415, description = "A body that is not `application/partial-upload`", body = crate::envelope::Failure),
        Backends,
    ),
)]
pub(crate) async fn append(
    State(state): State<AppState>,
    token: BearerToken,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = upload_name(id)?;
    let offset = number(&headers, UPLOAD_OFFSET)?.ok_or(BadBody::UploadHeader(UPLOAD_OFFSET))?;
    let complete =
        flag(&headers, UPLOAD_COMPLETE)?.ok_or(BadBody::UploadHeader(UPLOAD_COMPLETE))?;
    // Draft 03 clients send no type; anything else is not an append.
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes() != PARTIAL_UPLOAD.as_bytes())
    {
        return Err(WrongContentType::PartialUpload.into());
    }
    let offset = write(&state, &token, &id, offset, complete, body)
        .await
        .map_err(on_missing)?;
    Ok(UploadHeaders {
        offset: Some(offset),
        complete: Some(complete),
        ..UploadHeaders::default()
    }
    .answer(StatusCode::NO_CONTENT))
}

#[utoipa::path(
    delete,
    path = "/uploads/{id}",
    operation_id = "cancel_upload",
    tag = "uploads",
    summary = "Cancel an upload and remove its bytes",
    params(("id" = String, Path, description = "The upload")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed; its bytes no longer count against the quota"),
        BearerToken,
        (status = 404, description = "No such upload among the caller's", body = crate::envelope::Failure),
        Backends,
    ),
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    token: BearerToken,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let resource_name = upload_name(id)?;
    let backends = &state.backends;
    let message = CancelUploadRequest { resource_name };
    let mut client = backends.resumable.clone();
    let call = client.cancel_upload(backends.unary_request(message, Some(&token)));
    backends.unary(call).await.map_err(on_missing)?;
    Ok(UploadHeaders::default().answer(StatusCode::NO_CONTENT))
}

/// Streams `body` into a `Write` of upload `id` at `offset`, finishing the upload when
/// `complete` and the body arrived whole: the upload's offset afterwards. A body that
/// breaks off ends the Write without finishing it, so what arrived is kept.
async fn write(
    state: &AppState,
    token: &BearerToken,
    id: &str,
    offset: i64,
    complete: bool,
    body: Body,
) -> Result<i64, ApiError> {
    let (sender, receiver) = mpsc::channel(4);
    let call = request(
        ReceiverStream::new(receiver),
        Some(token),
        state.backends.upload_timeout,
    );
    let mut client = state.backends.resumable_writes.clone();
    let pending = tokio::spawn(async move { client.write(call).await });
    let mut first = Some(WriteRequest {
        resource_name: id.to_owned(),
        write_offset: offset,
        ..WriteRequest::default()
    });
    let mut body = body.into_data_stream();
    let mut sent = 0usize;
    let mut whole = true;
    let mut refusal = None;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            whole = false;
            break;
        };
        sent += chunk.len();
        if offset as usize + sent > state.max_cover_bytes {
            refusal = Some(ApiError::from(TooLarge::Cover {
                max_bytes: state.max_cover_bytes,
            }));
            break;
        }
        let message = WriteRequest {
            data: chunk,
            ..first.take().unwrap_or_default()
        };
        if sender.send(message).await.is_err() {
            // The library answered already (a wrong offset): its answer says why.
            whole = false;
            break;
        }
    }
    if refusal.is_none() && (first.is_some() || (whole && complete)) {
        let last = WriteRequest {
            finish_write: whole && complete,
            ..first.take().unwrap_or_default()
        };
        let _ = sender.send(last).await;
    }
    drop(sender);
    let answer = match pending.await {
        Ok(answer) => answer,
        Err(_) => return Err(Internal::UploadTaskFailed.into()),
    };
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    Ok(answer?.into_inner().committed_size)
}
