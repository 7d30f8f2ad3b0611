//! The columns of the `books` table, listed once. Every query that returns books
//! selects them in this order, and each read path (sqlx for writes, rusqlite and
//! tokio-postgres for the hot reads) maps a row to a [`BookRecord`] by column name,
//! through positions worked out from that list when the crate is compiled: no name
//! is looked up while a row is read.

use bookshelf_runtime::{postgres_reads, sqlite_reads::rusqlite};
use sqlx::{Row, any::AnyRow};

use super::records::BookRecord;
use crate::domain::{CoverId, CoverRef, StoredCover};

/// The columns of a book row, in the order every query selects them. A macro rather
/// than a constant so that queries can be put together with `concat!` at compile
/// time.
macro_rules! book_columns {
    () => {
        "id, owner_id, title, description, category, cover_id, cover_content_type, \
         cover_bytes, created_at, updated_at"
    };
}
pub(super) use book_columns;

/// The position of the column `name` in [`book_columns!`]; a column that is not
/// there stops the build.
const fn position(name: &str) -> usize {
    let columns = book_columns!().as_bytes();
    let name = name.as_bytes();
    let mut index = 0;
    let mut start = 0;
    let mut end = 0;
    while start < columns.len() {
        while end < columns.len() && columns[end] != b',' {
            end += 1;
        }
        if end - start == name.len() {
            let mut same = 0;
            while same < name.len() && columns[start + same] == name[same] {
                same += 1;
            }
            if same == name.len() {
                return index;
            }
        }
        index += 1;
        start = end + 1;
        while start < columns.len() && columns[start] == b' ' {
            start += 1;
        }
        end = start;
    }
    panic!("not a column of the books table");
}

const ID: usize = position("id");
const OWNER_ID: usize = position("owner_id");
const TITLE: usize = position("title");
const DESCRIPTION: usize = position("description");
const CATEGORY: usize = position("category");
const COVER_ID: usize = position("cover_id");
const COVER_CONTENT_TYPE: usize = position("cover_content_type");
const COVER_BYTES: usize = position("cover_bytes");
const CREATED_AT: usize = position("created_at");
const UPDATED_AT: usize = position("updated_at");

/// A [`BookRecord`] from a row selected with [`book_columns!`], read with `$get`, the
/// driver's getter by position (`try_get` on sqlx and tokio-postgres, `get` on
/// rusqlite); each value is decoded straight into its domain type.
macro_rules! book_record {
    ($row:expr, $get:ident) => {{
        let row = $row;
        let cover_id: Option<CoverId> = row.$get(COVER_ID)?;
        let cover = match cover_id {
            Some(id) => {
                let content_type: Option<String> = row.$get(COVER_CONTENT_TYPE)?;
                Some(StoredCover {
                    reference: CoverRef {
                        id,
                        content_type: content_type.unwrap_or_default(),
                    },
                    bytes: row.$get(COVER_BYTES)?,
                })
            }
            None => None,
        };
        BookRecord {
            id: row.$get(ID)?,
            owner_id: row.$get(OWNER_ID)?,
            title: row.$get(TITLE)?,
            description: row.$get(DESCRIPTION)?,
            category: row.$get(CATEGORY)?,
            cover,
            created_at: row.$get(CREATED_AT)?,
            updated_at: row.$get(UPDATED_AT)?,
        }
    }};
}

impl BookRecord {
    /// A book returned by a write (sqlx).
    pub(super) fn from_written(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(book_record!(row, try_get))
    }

    /// A book from the SQLite read path.
    pub(super) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(book_record!(row, get))
    }

    /// A book from the PostgreSQL read path.
    pub(super) fn from_postgres(
        row: &postgres_reads::Row,
    ) -> Result<Self, postgres_reads::ReadError> {
        Ok(book_record!(row, try_get))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_its_position() {
        let listed: Vec<&str> = book_columns!().split(", ").collect();
        let positions = [
            ("id", ID),
            ("owner_id", OWNER_ID),
            ("title", TITLE),
            ("description", DESCRIPTION),
            ("category", CATEGORY),
            ("cover_id", COVER_ID),
            ("cover_content_type", COVER_CONTENT_TYPE),
            ("cover_bytes", COVER_BYTES),
            ("created_at", CREATED_AT),
            ("updated_at", UPDATED_AT),
        ];
        assert_eq!(listed.len(), positions.len());
        for (name, position) in positions {
            assert_eq!(listed[position], name);
        }
    }
}
