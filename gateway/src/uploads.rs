//! Multipart book forms, streamed: text fields first, then `cover_image`, whose chunks
//! go into the backend's client stream as they arrive. The cover is never held whole
//! in memory, and an oversized one is refused as soon as it passes the cap. The stream
//! ends with the message that says the upload is finished, carrying the byte count and
//! SHA-256 of what was sent, so the backend checks the cover end to end.

use std::collections::HashMap;

use axum::extract::{
    Multipart,
    multipart::{Field, MultipartError, MultipartRejection},
};
use axum::http::StatusCode;
use bookshelf_proto::library::v1::UploadFinished;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{ApiError, BadBody, Internal, TooLarge, WrongContentType};

/// The form field that carries the cover.
pub const COVER_FIELD: &str = "cover_image";
/// The text fields a book form may carry; any other field is read and ignored.
const TEXT_FIELDS: [&str; 3] = ["title", "description", "category"];
/// The longest text field accepted, in bytes.
const MAX_TEXT_BYTES: usize = 16 * 1024;

/// The text fields of a form, by name.
pub type TextFields = HashMap<&'static str, String>;

/// A multipart body, or why the request is not one.
pub fn multipart(extracted: Result<Multipart, MultipartRejection>) -> Result<Multipart, ApiError> {
    extracted.map_err(|_| ApiError::from(WrongContentType::Multipart))
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

/// How one upload RPC is made: its first message, its chunk messages, and the call.
pub trait UploadCall: Send + 'static {
    /// One message of the client stream.
    type Message: Send + 'static;
    /// The answer.
    type Answer: Send + 'static;
    /// The metadata message, from the text fields read before the cover.
    fn metadata(&self, fields: &TextFields) -> Self::Message;
    /// A chunk message.
    fn chunk(bytes: Bytes) -> Self::Message;
    /// The last message: the upload is whole, with its byte count and digest.
    fn finished(finished: UploadFinished) -> Self::Message;
    /// Starts the call on `stream`.
    fn start(
        self,
        stream: ReceiverStream<Self::Message>,
    ) -> tokio::task::JoinHandle<Result<Self::Answer, tonic::Status>>;
}

/// The backend side of an upload: the call and the stream feeding it. Only
/// [`Upload::finish`] sends the finish message. Dropped before that (a refused form,
/// the cap passed, the deadline, the client gone), its stream ends without one, and
/// the backend refuses what it received.
struct Upload<C: UploadCall> {
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
        let metadata = call.metadata(fields);
        let pending = call.start(ReceiverStream::new(receiver));
        let mut upload = Self {
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
        self.send(C::chunk(chunk)).await;
    }

    /// Ends the stream with the finish message (the form was read whole) and waits
    /// for the answer.
    async fn finish(mut self) -> Result<C::Answer, ApiError> {
        let finished = UploadFinished {
            cover_bytes: self.sent,
            sha256: self.digest.clone().finish().as_ref().to_vec(),
        };
        self.send(C::finished(finished)).await;
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

/// Reads the form and makes the call, streaming the cover through.
pub async fn stream_form<C: UploadCall>(
    mut form: Multipart,
    max_cover_bytes: usize,
    call: C,
) -> Result<C::Answer, ApiError> {
    let mut fields = TextFields::new();
    let mut call = Some(call);
    let mut started = None;
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == COVER_FIELD {
            let Some(call) = call.take() else {
                return Err(BadBody::SecondCover.into());
            };
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
            started = Some(upload);
            break;
        }
        match TEXT_FIELDS.iter().find(|known| **known == name) {
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
    if let Some(field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default();
        return Err(if name == COVER_FIELD {
            BadBody::SecondCover
        } else {
            BadBody::FieldAfterCover
        }
        .into());
    }
    match (started, call) {
        (Some(upload), _) => upload.finish().await,
        (None, Some(call)) => Upload::start(call, &fields).await.finish().await,
        (None, None) => unreachable!("the call is taken only when the upload starts"),
    }
}
