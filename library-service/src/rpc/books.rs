//! `GetBook`, `ListBooks` and `DeleteBook`.

use super::{convert::book_message, error::LibraryError, paging::ListQuery, state::LibraryApi};
use crate::domain::{BookId, UserId};
use bookshelf_proto::library::v1::{
    DeleteBookRequest, DeleteBookResponse, GetBookRequest, GetBookResponse, ListBooksRequest,
    ListBooksResponse,
};

impl LibraryApi {
    /// `GetBook`: one of the caller's books.
    pub(super) async fn get(
        &self,
        owner: &UserId,
        request: GetBookRequest,
    ) -> Result<GetBookResponse, LibraryError> {
        let id = BookId::parse(&request.id).ok_or(LibraryError::NotFound)?;
        let book = self
            .store
            .get(owner, &id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        Ok(GetBookResponse {
            book: Some(book_message(book)),
        })
    }

    /// `ListBooks`: a page of the caller's books.
    pub(super) async fn list(
        &self,
        owner: &UserId,
        request: ListBooksRequest,
    ) -> Result<ListBooksResponse, LibraryError> {
        let query = ListQuery::try_from(request)?;
        let books = self
            .store
            .list(
                owner,
                query.category,
                query.start.as_ref(),
                query.fetch_limit(),
            )
            .await?;
        let (books, next_page_token) = query.page(books);
        Ok(ListBooksResponse {
            books: books.into_iter().map(book_message).collect(),
            next_page_token,
        })
    }

    /// `DeleteBook`: removes one of the caller's books, then its cover.
    pub(super) async fn delete(
        &self,
        owner: &UserId,
        request: DeleteBookRequest,
    ) -> Result<DeleteBookResponse, LibraryError> {
        let id = BookId::parse(&request.id).ok_or(LibraryError::NotFound)?;
        let book = self
            .store
            .delete(owner, &id)
            .await?
            .ok_or(LibraryError::NotFound)?;
        if let Some(cover) = book.cover {
            self.covers.delete(&cover.reference.id).await?;
        }
        tracing::debug!(book_id = %book.id, "book deleted");
        Ok(DeleteBookResponse {})
    }
}
