//! Listing an owner's books a page at a time, in creation order. A page token names
//! the last book of the page before it (its creation time and id) rather than an
//! offset, so books added or deleted meanwhile never shift a page or repeat a book.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_proto::library::v1::ListBooksRequest;
use bookshelf_runtime::errors::FieldViolation;

use crate::{
    domain::{BookId, Category},
    store::{BookRecord, PageStart},
};

/// Books per page when the client does not say.
const DEFAULT_PAGE_SIZE: i64 = 50;
/// The most books one page may hold.
const MAX_PAGE_SIZE: i64 = 100;

/// A `ListBooks` request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListQuery {
    /// Only books of this category; `None` for every book.
    pub(super) category: Option<Category>,
    /// Where the page starts; `None` for the first page.
    pub(super) start: Option<PageStart>,
    /// The most books the page holds.
    size: i64,
}

impl TryFrom<ListBooksRequest> for ListQuery {
    type Error = FieldViolation;

    fn try_from(request: ListBooksRequest) -> Result<Self, FieldViolation> {
        let category = match request.category.trim() {
            "" => None,
            category => Some(Category::parse(category)?),
        };
        let start = parse_page_token(&request.page_token)?;
        let size = match i64::from(request.page_size) {
            size if size <= 0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        Ok(Self {
            category,
            start,
            size,
        })
    }
}

impl ListQuery {
    /// How many books to read: one more than the page holds, to tell whether another
    /// page follows without a second query.
    pub(super) fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// The page among `books` (read with [`Self::fetch_limit`]), and the token of the
    /// next page, empty on the last.
    pub(super) fn page(&self, mut books: Vec<BookRecord>) -> (Vec<BookRecord>, String) {
        if books.len() as i64 > self.size {
            books.truncate(self.size as usize);
            let next = books.last().map(page_token).unwrap_or_default();
            (books, next)
        } else {
            (books, String::new())
        }
    }
}

/// The token of the page that follows `book`: its (created_at, id), base64url.
pub(crate) fn page_token(book: &BookRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", book.created_at, book.id))
}

/// Where the page a token names starts; the empty token is the first page (`None`).
pub(crate) fn parse_page_token(token: &str) -> Result<Option<PageStart>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || FieldViolation::new("page_token", "is not a token this service issued");
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (created_at, id) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(Some(PageStart {
        created_at: created_at.parse().map_err(|_| invalid())?,
        id: BookId::parse(id).ok_or_else(invalid)?,
    }))
}
