//! What the store takes and gives: the rows of the library database in domain types,
//! as they were written, and the quota it enforces.

use crate::domain::{
    BookFields, BookId, BookTitle, Category, Description, FieldChanges, StoredCover, UploadId,
    UserId,
};

/// A stored book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BookRecord {
    /// The book id.
    pub(crate) id: BookId,
    /// The owner.
    pub(crate) owner_id: UserId,
    /// The title, unique per owner.
    pub(crate) title: BookTitle,
    /// The description.
    pub(crate) description: Description,
    /// The category.
    pub(crate) category: Category,
    /// The cover, if the book has one.
    pub(crate) cover: Option<StoredCover>,
    /// Creation time, ms since the epoch.
    pub(crate) created_at: i64,
    /// Last change, ms since the epoch.
    pub(crate) updated_at: i64,
}

impl BookRecord {
    /// The stored cover's size in bytes (0 without one), as counted against the quota.
    pub(crate) fn cover_bytes(&self) -> i64 {
        self.cover.as_ref().map_or(0, |cover| cover.bytes)
    }
}

/// A new book.
#[derive(Debug, Clone)]
pub(crate) struct NewBookRecord<'a> {
    /// The book id.
    pub(crate) id: &'a BookId,
    /// The owner.
    pub(crate) owner_id: &'a UserId,
    /// Its fields.
    pub(crate) fields: &'a BookFields,
    /// The stored cover.
    pub(crate) cover: Option<&'a StoredCover>,
    /// The complete upload the cover was made from, consumed in the same transaction.
    pub(crate) consumes: Option<&'a UploadId>,
    /// Now, ms since the epoch.
    pub(crate) now: i64,
}

/// The changes of an update.
#[derive(Debug, Clone)]
pub(crate) struct BookUpdate<'a> {
    /// The fields it sets.
    pub(crate) fields: &'a FieldChanges,
    /// A new stored cover.
    pub(crate) cover: Option<&'a StoredCover>,
    /// With a new cover, the cover it replaces as last read (with its size): the
    /// update applies only while that is still the book's, so the file it replaced,
    /// and the bytes it gives back to the quota, are known exactly even when updates
    /// race.
    pub(crate) replacing: Option<&'a StoredCover>,
    /// The complete upload the new cover was made from, consumed in the same
    /// transaction.
    pub(crate) consumes: Option<&'a UploadId>,
}

/// Who a cover belongs to, and the media type it is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CoverOwner {
    /// The owner of the book whose cover it is.
    pub(crate) owner_id: UserId,
    /// Its media type.
    pub(crate) content_type: String,
}

/// Where a page of an owner's books starts: just after this book, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageStart {
    /// Creation time of the last book of the previous page.
    pub(crate) created_at: i64,
    /// Id of the last book of the previous page, which orders books created in the
    /// same millisecond.
    pub(crate) id: BookId,
}

/// How much one account may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// The most books.
    pub(crate) max_books: i64,
    /// The most bytes of stored covers.
    pub(crate) max_cover_bytes: i64,
}

/// Which part of its quota an account has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaExceeded {
    /// It has as many books as allowed.
    Books {
        /// The most books.
        limit: i64,
    },
    /// Its covers fill the space allowed.
    CoverBytes {
        /// The most bytes of stored covers.
        limit: i64,
    },
}
