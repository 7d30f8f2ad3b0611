//! `/books/...`: create and update (multipart, streamed), list, get, delete.

use axum::{
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use bookshelf_proto::library::v1::{Book, DeleteBookRequest, GetBookRequest, ListBooksRequest};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    backends::Backends,
    book_uploads::{Create, Update},
    envelope::{self, Envelope, Failure, Success},
    error::{ApiError, BadBody, Internal},
    extract::{BearerToken, path_id},
    timestamps::rfc3339,
    uploads::{BookForm, UploadCall, stream_form},
};

/// The most books `limit` may ask for at once.
const MAX_LIMIT: i32 = 100;

/// A book as the tutorial's clients know it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BookJson {
    _id: String,
    title: String,
    description: String,
    category: String,
    image_url: Option<String>,
    user_id: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

impl BookJson {
    fn new(book: Book, public_url: &str) -> Self {
        let image_url = (!book.cover_id.is_empty()).then(|| {
            format!(
                "{}/covers/{}",
                public_url.trim_end_matches('/'),
                book.cover_id
            )
        });
        Self {
            _id: book.id,
            title: book.title,
            description: book.description,
            category: book.category,
            image_url,
            user_id: book.user_id,
            created_at: book.created_at.map(rfc3339),
            updated_at: book.updated_at.map(rfc3339),
        }
    }
}

fn book_of(book: Option<Book>, state: &AppState) -> Result<BookJson, ApiError> {
    book.map(|book| BookJson::new(book, &state.public_url))
        .ok_or(Internal::MissingBook.into())
}

async fn upload<C: UploadCall<Answer = Option<Book>>>(
    state: &AppState,
    form: BookForm,
    call: C,
) -> Result<BookJson, ApiError> {
    let deadline = state.backends.upload_timeout;
    let book = tokio::time::timeout(
        deadline,
        stream_form(form, state.max_cover_bytes, &state.held_covers, call),
    )
    .await
    .map_err(|_| ApiError::Deadline)??;
    book_of(book, state)
}

#[utoipa::path(
    post,
    path = "/books/",
    tag = "books",
    summary = "Add a book, with an optional cover",
    request_body(content = BookForm, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new book", body = Envelope<BookJson>),
        BearerToken,
        BookForm,
        Backends,
    ),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    token: BearerToken,
    form: Result<BookForm, ApiError>,
) -> Result<Success<BookJson>, ApiError> {
    let form = form?;
    let call = Create::new(&state.backends, token);
    let book = upload(&state, form, call).await?;
    Ok(Success::created("successfully created a new book", book))
}

#[utoipa::path(
    put,
    path = "/books/{id}",
    tag = "books",
    summary = "Change a book's fields or cover",
    request_body(content = BookForm, content_type = "multipart/form-data"),
    params(("id" = String, Path, description = "The book's `_id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed book", body = Envelope<BookJson>),
        BearerToken,
        (status = 404, description = "No such book among the caller's", body = Failure),
        BookForm,
        Backends,
    ),
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    token: BearerToken,
    id: Result<Path<String>, PathRejection>,
    form: Result<BookForm, ApiError>,
) -> Result<Success<BookJson>, ApiError> {
    let id = path_id(id)?;
    let form = form?;
    let call = Update::new(&state.backends, token, id);
    let book = upload(&state, form, call).await?;
    Ok(Success::ok("successfully updated a book", book))
}

#[utoipa::path(
    get,
    path = "/books/{id}",
    operation_id = "get_book",
    tag = "books",
    summary = "One of the caller's books",
    params(("id" = String, Path, description = "The book's `_id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The book", body = Envelope<BookJson>),
        BearerToken,
        (status = 404, description = "No such book among the caller's", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    token: BearerToken,
    id: Result<Path<String>, PathRejection>,
) -> Result<Success<BookJson>, ApiError> {
    let id = path_id(id)?;
    let backends = &state.backends;
    let call = backends.unary_request(GetBookRequest { id }, Some(&token));
    let response = backends
        .unary(backends.library.clone().get_book(call))
        .await?;
    Ok(Success::ok(
        "successfully retrieved a book",
        book_of(response.book, &state)?,
    ))
}

#[utoipa::path(
    delete,
    path = "/books/{id}",
    tag = "books",
    summary = "Delete a book and its cover",
    params(("id" = String, Path, description = "The book's `_id`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        BearerToken,
        (status = 404, description = "No such book among the caller's", body = Failure),
        Backends,
    ),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    token: BearerToken,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(id)?;
    let backends = &state.backends;
    let call = backends.unary_request(DeleteBookRequest { id }, Some(&token));
    backends
        .unary(backends.library.clone().delete_book(call))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/books/",
    operation_id = "list_books",
    tag = "books",
    summary = "The caller's books, all at once or by page",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The books; `next_cursor` while more remain", body = BookList),
        BearerToken,
        (status = 400, description = "A malformed query, or `limit` out of range", body = Failure),
        Backends,
    ),
)]
/// `GET /books/?category=&limit=&cursor=`: without `limit`, every book of the caller
/// up to the unpaged cap; with it, one page. While more remain, `next_cursor` is
/// beside `data`.
pub(crate) async fn list(
    State(state): State<AppState>,
    token: BearerToken,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(query) = query.map_err(|_| BadBody::MalformedQuery)?;
    let category = query.category.unwrap_or_default();
    let limit = match query.limit {
        None => None,
        Some(Limit::Within(limit)) => Some(limit),
        Some(Limit::Outside) => {
            let message = format!("must be a number from 1 to {MAX_LIMIT}");
            return Err(ApiError::InvalidFields(
                [("limit".to_owned(), message)].into(),
            ));
        }
    };
    // Without `limit`, pages are gathered up to the cap: the answer is held whole in
    // memory, so it must have a bound whatever the caller stores.
    let wanted = limit.map_or(state.max_unpaged_books, |limit| limit as usize);
    let mut cursor = query.cursor.unwrap_or_default();
    let backends = &state.backends;
    let mut books = Vec::new();
    loop {
        let page = ListBooksRequest {
            category: category.clone(),
            page_size: (wanted - books.len()).min(MAX_LIMIT as usize) as i32,
            page_token: cursor,
            ..Default::default()
        };
        let call = backends.unary_request(page, Some(&token));
        let response = backends
            .unary(backends.library.clone().list_books(call))
            .await?;
        books.extend(
            response
                .books
                .into_iter()
                .map(|book| BookJson::new(book, &state.public_url)),
        );
        cursor = response.next_page_token;
        if limit.is_some() || cursor.is_empty() || books.len() >= wanted {
            break;
        }
    }
    let body = BookList {
        message: "successfully retrieved all books",
        data: books,
        error: None,
        next_cursor: (!cursor.is_empty()).then_some(cursor),
    };
    let capacity = envelope::ONE_BOOK_BYTES * (body.data.len() + 1);
    Ok(envelope::json(StatusCode::OK, &body, capacity))
}

/// `GET /books/`'s answer, serialized straight from the books rather than through a
/// JSON value tree.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BookList {
    message: &'static str,
    data: Vec<BookJson>,
    /// Always null on success.
    error: Option<String>,
    /// Present while more books remain: pass it as `cursor` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /books/`'s query; other parameters are ignored.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only books of this category.
    category: Option<String>,
    /// Books per page, 1 to 100; without it, every book up to the server's cap.
    #[param(value_type = Option<i32>, minimum = 1, maximum = 100)]
    limit: Option<Limit>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// A `limit` as sent: within range, or anything else (out of range, not a number),
/// which is a field error rather than a malformed query.
enum Limit {
    Within(i32),
    Outside,
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(match raw.parse::<i32>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Self::Within(limit),
            _ => Self::Outside,
        })
    }
}
