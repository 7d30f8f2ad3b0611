//! Multipart book forms, with their parts in any order. When the text fields an upload
//! needs come before `cover_image`, the cover's chunks go into the backend's client
//! stream as they arrive and it is never held whole in memory. When the cover comes
//! first (clients that sort fields alphabetically send it so), it is held until the
//! form ends, within the cover cap and a budget that all held covers share, because the
//! stream's first message carries the fields. An oversized cover is refused as soon as
//! it passes the cap either way. The stream ends with the message that says the upload
//! is finished, carrying the byte count and SHA-256 of what was sent, so the backend
//! checks the cover end to end.

use std::{collections::HashMap, sync::Arc};

use axum::extract::{
    FromRequest, Multipart, Request,
    multipart::{Field, MultipartError},
};
use axum::http::StatusCode;
use bookshelf_proto::library::v1::UploadFinished;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{ApiError, BadBody, Internal, TooLarge, WrongContentType};

/// The form field that carries the cover.
pub(crate) const COVER_FIELD: &str = "cover_image";
/// The form field that names a finished resumable upload to take the cover from,
/// instead of `cover_image`.
pub(crate) const UPLOAD_FIELD: &str = "cover_upload";
/// The text fields a book form may carry; any other field is read and ignored.
pub(crate) const TEXT_FIELDS: [&str; 3] = ["title", "description", "category"];
/// How many covers of the largest size may be held at once, across all requests, while
/// they wait for the text fields that come after them; past that, a form that would
/// hold one more is refused with 503 rather than let held covers grow with the number
/// of clients.
pub(crate) const HELD_COVERS: usize = 8;
/// The longest text field accepted, in bytes.
const MAX_TEXT_BYTES: usize = 16 * 1024;

/// The text fields of a form, by name.
pub(crate) type TextFields = HashMap<&'static str, String>;

/// A book as `POST /books/` and `PUT /books/{id}` take it: a multipart form whose
/// parts come in any order, read as it streams by [`stream_form`]. A request that is
/// not a multipart form is refused with 415.
pub(crate) struct BookForm(Multipart);

impl<S: Send + Sync> FromRequest<S> for BookForm {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Multipart::from_request(request, state)
            .await
            .map(Self)
            .map_err(|_| WrongContentType::Multipart.into())
    }
}

fn form_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::from(TooLarge::Body)
    } else {
        ApiError::from(BadBody::MalformedMultipart)
    }
}

async fn read_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_BYTES {
            return Err(TooLarge::FormField.into());
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| BadBody::FormFieldNotUtf8.into())
}

/// What one message of an upload's client stream carries.
pub(crate) enum UploadPart<'a> {
    /// The first message: the form's text fields.
    Fields(&'a TextFields),
    /// A chunk of the cover.
    Chunk(Bytes),
    /// The last message: the upload is whole, with its byte count and digest.
    Finished(UploadFinished),
}

/// How one upload RPC is made: its messages, and the call.
pub(crate) trait UploadCall: Send + 'static {
    /// One message of the client stream.
    type Message: Send + 'static;
    /// The answer.
    type Answer: Send + 'static;
    /// The text fields that must have arrived for a cover to be streamed as it comes;
    /// a cover before any of them is held until the form ends.
    const NEEDED_FIELDS: &'static [&'static str];
    /// The message that carries `part`.
    fn message(&self, part: UploadPart<'_>) -> Self::Message;
    /// Starts the call on `stream`.
    fn start(
        &self,
        stream: ReceiverStream<Self::Message>,
    ) -> tokio::task::JoinHandle<Result<Self::Answer, tonic::Status>>;
}

/// The backend side of an upload: the call and the stream feeding it. Only
/// [`Upload::finish`] sends the finish message. Dropped before that (a refused form,
/// the cap passed, the deadline, the client gone), its stream ends without one, and
/// the backend refuses what it received.
struct Upload<C: UploadCall> {
    call: C,
    sender: Option<mpsc::Sender<C::Message>>,
    pending: Option<tokio::task::JoinHandle<Result<C::Answer, tonic::Status>>>,
    /// Whether the backend still reads; once it has answered, sending is pointless.
    reading: bool,
    /// Cover bytes sent so far, and their running digest.
    sent: u64,
    digest: ring::digest::Context,
}

impl<C: UploadCall> Upload<C> {
    /// Starts `call` and sends its metadata.
    async fn start(call: C, fields: &TextFields) -> Self {
        let (sender, receiver) = mpsc::channel(4);
        let metadata = call.message(UploadPart::Fields(fields));
        let pending = call.start(ReceiverStream::new(receiver));
        let mut upload = Self {
            call,
            sender: Some(sender),
            pending: Some(pending),
            reading: true,
            sent: 0,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
        };
        upload.send(metadata).await;
        upload
    }

    /// Sends one message, noting when the backend no longer reads.
    async fn send(&mut self, message: C::Message) {
        if let Some(sender) = &self.sender {
            self.reading = sender.send(message).await.is_ok();
        }
    }

    /// Sends one chunk of the cover.
    async fn send_chunk(&mut self, chunk: Bytes) {
        self.sent += chunk.len() as u64;
        self.digest.update(&chunk);
        let message = self.call.message(UploadPart::Chunk(chunk));
        self.send(message).await;
    }

    /// Ends the stream with the finish message (the form was read whole) and waits
    /// for the answer.
    async fn finish(mut self) -> Result<C::Answer, ApiError> {
        // Without a cover byte there is nothing to check (a cover named by an upload
        // is checked against the upload itself).
        let finished = UploadFinished {
            cover_bytes: self.sent,
            sha256: if self.sent == 0 {
                Vec::new()
            } else {
                self.digest.clone().finish().as_ref().to_vec()
            },
        };
        let message = self.call.message(UploadPart::Finished(finished));
        self.send(message).await;
        self.answer().await
    }

    /// Ends the stream as it is (the backend answered already) and waits for the
    /// answer.
    async fn answer(mut self) -> Result<C::Answer, ApiError> {
        drop(self.sender.take());
        let pending = self.pending.take().expect("an upload finishes once");
        match pending.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(Internal::UploadTaskFailed.into()),
        }
    }
}

/// A cover that arrived before the text fields its call needs: its bytes, copied out of
/// the request's buffers so that what is held is exactly what is counted, and the
/// share of the gateway's budget for held covers that they take.
struct HeldCover {
    chunks: Vec<Bytes>,
    budget: Option<OwnedSemaphorePermit>,
}

impl HeldCover {
    /// Reads the whole cover, refusing it as soon as it passes `max_cover_bytes` or
    /// the budget shared by every held cover runs out.
    async fn read(
        field: &mut Field<'_>,
        max_cover_bytes: usize,
        budget: &Arc<Semaphore>,
    ) -> Result<Self, ApiError> {
        let mut held = Self {
            chunks: Vec::new(),
            budget: None,
        };
        let mut size = 0usize;
        while let Some(chunk) = field.chunk().await.map_err(form_error)? {
            size += chunk.len();
            if size > max_cover_bytes {
                return Err(TooLarge::Cover {
                    max_bytes: max_cover_bytes,
                }
                .into());
            }
            let share = u32::try_from(chunk.len())
                .ok()
                .and_then(|permits| budget.clone().try_acquire_many_owned(permits).ok())
                .ok_or(ApiError::HoldingFull)?;
            match &mut held.budget {
                Some(taken) => taken.merge(share),
                None => held.budget = Some(share),
            }
            held.chunks.push(Bytes::copy_from_slice(&chunk));
        }
        Ok(held)
    }
}

/// Where the form's cover is while the rest of the form is read.
enum Cover<C: UploadCall> {
    /// Not sent yet; the call is not started.
    Absent(C),
    /// Streamed into the call as it arrived: the fields the call needs came first.
    Streamed(Box<Upload<C>>),
    /// Held until the form ends, since fields the call needs may still follow.
    Held(C, HeldCover),
}

/// Reads the form and makes the call. The form's parts may come in any order. A cover
/// that follows the fields its call needs is streamed through as it arrives; one that
/// comes before them is held (within the cover cap, and the budget all held covers
/// share) until the form ends, since the call's first message carries the fields.
pub(crate) async fn stream_form<C: UploadCall>(
    BookForm(mut form): BookForm,
    max_cover_bytes: usize,
    held_budget: &Arc<Semaphore>,
    call: C,
) -> Result<C::Answer, ApiError> {
    let mut fields = TextFields::new();
    let mut cover = Cover::Absent(call);
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == COVER_FIELD {
            let Cover::Absent(call) = cover else {
                return Err(BadBody::SecondCover.into());
            };
            if fields.contains_key(UPLOAD_FIELD) {
                return Err(BadBody::CoverTwice.into());
            }
            if !C::NEEDED_FIELDS
                .iter()
                .all(|needed| fields.contains_key(needed))
            {
                let held = HeldCover::read(&mut field, max_cover_bytes, held_budget).await?;
                if held.chunks.iter().all(Bytes::is_empty) {
                    return Err(BadBody::EmptyCover.into());
                }
                cover = Cover::Held(call, held);
                continue;
            }
            let mut upload = Upload::start(call, &fields).await;
            let mut sent = 0usize;
            while upload.reading {
                let Some(chunk) = field.chunk().await.map_err(form_error)? else {
                    break;
                };
                sent += chunk.len();
                if sent > max_cover_bytes {
                    return Err(TooLarge::Cover {
                        max_bytes: max_cover_bytes,
                    }
                    .into());
                }
                upload.send_chunk(chunk).await;
            }
            if !upload.reading {
                // The backend answered before the end (a bad token, too many uploads):
                // its answer says why, and the rest of the body is not read.
                return upload.answer().await;
            }
            if sent == 0 {
                // Dropped without its finish message, the call stores nothing.
                return Err(BadBody::EmptyCover.into());
            }
            cover = Cover::Streamed(Box::new(upload));
            continue;
        }
        if name == UPLOAD_FIELD {
            if !matches!(cover, Cover::Absent(_)) {
                return Err(BadBody::CoverTwice.into());
            }
            let value = read_text(field).await?;
            fields.insert(UPLOAD_FIELD, value);
            continue;
        }
        match TEXT_FIELDS.iter().find(|known| **known == name) {
            // The call's first message is sent: a field after the cover streamed
            // behind it cannot be part of it any more.
            Some(known) if matches!(cover, Cover::Streamed(_)) => {
                return Err(BadBody::FieldAfterStreamedCover(known).into());
            }
            Some(known) => {
                let value = read_text(field).await?;
                fields.insert(known, value);
            }
            None => {
                // Unknown fields such as user_id never reach the backend.
                while field.chunk().await.map_err(form_error)?.is_some() {}
            }
        }
    }
    match cover {
        Cover::Absent(call) => Upload::start(call, &fields).await.finish().await,
        Cover::Streamed(upload) => (*upload).finish().await,
        Cover::Held(call, held) => {
            let mut upload = Upload::start(call, &fields).await;
            for chunk in held.chunks {
                if !upload.reading {
                    return upload.answer().await;
                }
                upload.send_chunk(chunk).await;
            }
            upload.finish().await
        }
    }
}
