//! The names of books, owners and covers, and a book's reference to its cover. Each is its own type, so a cover id can
//! never be passed where a book id is meant, and a value from a client becomes one
//! only by being parsed.
//!
//! All three are stored as text; a value read back from the database is one this
//! service wrote, so it is not parsed again.

use std::{borrow::Borrow, fmt};

use bookshelf_runtime::{
    postgres_reads::tokio_postgres::types as postgres, sqlite_reads::rusqlite::types as sqlite,
};
use bookshelf_tokens::Caller;

/// Each value of text is read back from the read paths as it was written, like
/// sqlx's transparent decoding does on the pool.
macro_rules! read_back_as_written {
    ($($id:ident),*) => {$(
        impl sqlite::FromSql for $id {
            fn column_result(value: sqlite::ValueRef<'_>) -> sqlite::FromSqlResult<Self> {
                String::column_result(value).map(Self)
            }
        }

        impl<'a> postgres::FromSql<'a> for $id {
            fn from_sql(
                kind: &postgres::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                String::from_sql(kind, raw).map(Self)
            }

            fn accepts(kind: &postgres::Type) -> bool {
                <String as postgres::FromSql>::accepts(kind)
            }
        }
    )*};
}

pub(super) use read_back_as_written;

read_back_as_written!(BookId, UserId, CoverId);

/// A book id: a UUID in its canonical hyphenated, lower-case form, so every spelling
/// a client may send names the same row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct BookId(String);

impl BookId {
    /// A fresh id for a new book.
    pub(crate) fn random() -> Self {
        Self(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// Parses any spelling of a UUID; anything else names no book.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw)
            .ok()
            .map(|id| Self(id.hyphenated().to_string()))
    }

    /// The id as stored and answered.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<BookId> for String {
    fn from(id: BookId) -> Self {
        id.0
    }
}

/// The user a book belongs to: the subject of the caller's verified token. The auth
/// service chose it, so it is taken as it comes, never parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct UserId(String);

impl UserId {
    /// An account a service client names; ids are UUIDs, so anything longer than 64
    /// bytes, or empty, names none.
    pub(crate) fn named(raw: &str) -> Option<Self> {
        (!raw.is_empty() && raw.len() <= 64).then(|| Self(raw.to_owned()))
    }

    /// The id as stored and answered.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Caller> for UserId {
    fn from(caller: Caller) -> Self {
        Self(caller.user_id)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

/// A cover id: 64 lower-case hexadecimal digits (256 random bits) the service chose
/// when it stored the cover. It is the cover's file name too, and a capability:
/// whoever knows it may fetch the thumbnail, as an `<img>` tag must.
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct CoverId(String);

impl CoverId {
    /// A fresh, unguessable id for a cover about to be stored.
    pub(crate) fn random() -> Self {
        let name = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Self::parse(&name).expect("two simple UUIDs are 64 lower-case hex digits")
    }

    /// Parses an id this service could have chosen. Anything else names no cover, and
    /// never reaches the database or the disk. The one definition of a cover's name:
    /// what a client may ask for, what a store writes under, and all a sweep may
    /// remove, so a store shared with anything else loses nothing that is not ours.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        Self::is_cover_name(raw).then(|| Self(raw.to_owned()))
    }

    /// Whether `name` is exactly an id this service chooses: 64 lower-case hex digits.
    pub(crate) fn is_cover_name(name: &str) -> bool {
        name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// The id as stored, answered and used as a file name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets a set of ids be asked about any file name, even one that is no cover id.
impl Borrow<str> for CoverId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<CoverId> for String {
    fn from(id: CoverId) -> Self {
        id.0
    }
}

/// A book's cover as clients see it: which stored thumbnail it is, and the media type
/// it is served with (the thumbnail's format, chosen when it was made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CoverRef {
    /// The stored thumbnail.
    pub(crate) id: CoverId,
    /// Its media type.
    pub(crate) content_type: String,
}

/// A cover file written to storage, as a book's row records it: the reference clients
/// see, and the size that counts against its owner's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredCover {
    /// Which cover it is and how it is served.
    pub(crate) reference: CoverRef,
    /// Its size in bytes.
    pub(crate) bytes: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_ids_are_uuids() {
        assert!(BookId::parse("../../etc/passwd").is_none());
        assert!(BookId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_some());
    }

    #[test]
    fn new_ids_parse_as_themselves() {
        let book = BookId::random();
        assert_eq!(BookId::parse(book.as_str()), Some(book));
        let cover = CoverId::random();
        assert_eq!(CoverId::parse(cover.as_str()), Some(cover));
    }

    #[test]
    fn cover_names_are_exactly_64_lower_case_hex_digits() {
        let name = CoverId::random().as_str().to_owned();
        let with_first = |c: char| format!("{c}{}", &name[1..]);
        for other in [
            with_first('g'),
            with_first('A'),
            with_first('/'),
            name[..63].to_owned(),
            format!("{name}0"),
            format!("{name}\n"),
            format!("x/{name}"),
            format!(".partial-{name}"),
            format!("{}\u{e9}", &name[..62]),
            String::new(),
        ] {
            assert!(CoverId::parse(&other).is_none(), "{other:?} parsed");
        }
    }
}
