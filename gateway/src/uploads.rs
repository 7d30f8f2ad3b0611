//! Multipart book forms, streamed: text fields first, then `cover_image`, whose chunks
//! go into the backend's client stream as they arrive. The cover is never held whole
//! in memory, and an oversized one is refused as soon as it passes the cap.

use std::collections::HashMap;

use axum::extract::{
    Multipart,
    multipart::{Field, MultipartError, MultipartRejection},
};
use axum::http::StatusCode;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;

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
    extracted.map_err(|_| {
        ApiError::UnsupportedMediaType(
            "Content-Type must be multipart/form-data with a boundary".to_owned(),
        )
    })
}

fn form_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("Request body too large".to_owned())
    } else {
        ApiError::BadRequest("Malformed multipart body".to_owned())
    }
}

async fn read_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_BYTES {
            return Err(ApiError::TooLarge("A form field is too long".to_owned()));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest("Form fields must be UTF-8".to_owned()))
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
    fn chunk(bytes: Vec<u8>) -> Self::Message;
    /// Starts the call on `stream`.
    fn start(
        self,
        stream: ReceiverStream<Self::Message>,
    ) -> tokio::task::JoinHandle<Result<Self::Answer, tonic::Status>>;
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
                return Err(ApiError::BadRequest(
                    "Send exactly one cover_image".to_owned(),
                ));
            };
            let (sender, receiver) = mpsc::channel(4);
            let metadata = call.metadata(&fields);
            let pending = call.start(ReceiverStream::new(receiver));
            let mut sent = 0usize;
            let mut accepted = sender.send(metadata).await.is_ok();
            while accepted {
                let Some(chunk) = field.chunk().await.map_err(|error| {
                    pending.abort();
                    form_error(error)
                })?
                else {
                    break;
                };
                sent += chunk.len();
                if sent > max_cover_bytes {
                    // Aborting resets the backend stream: it must not see a cut
                    // cover as a complete one.
                    pending.abort();
                    return Err(ApiError::TooLarge(format!(
                        "Cover image too large: must be at most {max_cover_bytes} bytes"
                    )));
                }
                accepted = sender.send(C::chunk(chunk.to_vec())).await.is_ok();
            }
            if !accepted {
                // The backend answered before the end (a bad token, a bad image): its
                // answer says why, and the rest of the body is not read.
                return finish(sender, pending).await;
            }
            started = Some((sender, pending));
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
        let message = if name == COVER_FIELD {
            "Send exactly one cover_image"
        } else {
            "cover_image must be the last field of the form"
        };
        if let Some((_, pending)) = started {
            pending.abort();
        }
        return Err(ApiError::BadRequest(message.to_owned()));
    }
    match (started, call) {
        (Some((sender, pending)), _) => finish(sender, pending).await,
        (None, Some(call)) => {
            let (sender, receiver) = mpsc::channel(1);
            let _ = sender.send(call.metadata(&fields)).await;
            let pending = call.start(ReceiverStream::new(receiver));
            finish(sender, pending).await
        }
        (None, None) => unreachable!("the call is taken only when the upload starts"),
    }
}

async fn finish<M, A>(
    sender: mpsc::Sender<M>,
    pending: tokio::task::JoinHandle<Result<A, tonic::Status>>,
) -> Result<A, ApiError> {
    drop(sender);
    match pending.await {
        Ok(result) => Ok(result?),
        Err(_) => Err(tonic::Status::internal("the upload task failed").into()),
    }
}
