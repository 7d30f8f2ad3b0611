//! A book's own fields (title, description, category), each valid by construction.
//! Values read back from the database are ones this service wrote, so they are not
//! parsed again.

use bookshelf_runtime::{
    errors::FieldViolation, postgres_reads::tokio_postgres::types as postgres,
    sqlite_reads::rusqlite::types as sqlite,
};

use super::ids::read_back_as_written;

read_back_as_written!(BookTitle, Description);

/// The categories a book may have, as the tutorial lists them.
pub(crate) const CATEGORIES: [&str; 8] = [
    "romance",
    "poetry",
    "politics",
    "picture book",
    "science",
    "fantasy",
    "horror",
    "thriller",
];

/// A book title: 1 to 200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct BookTitle(String);

impl BookTitle {
    /// Parses a title.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let title = raw.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(FieldViolation::new("title", "must be 1 to 200 characters"));
        }
        if title.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                "title",
                "must not contain control characters",
            ));
        }
        Ok(Self(title.to_owned()))
    }
}

/// A description: at most 2000 characters; line breaks and tabs are the only control
/// characters allowed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct Description(String);

impl Description {
    /// Parses a description.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        if raw.chars().count() > 2000 {
            return Err(FieldViolation::new(
                "description",
                "must be at most 2000 characters",
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(FieldViolation::new(
                "description",
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Self(raw.trim().to_owned()))
    }
}

impl From<BookTitle> for String {
    fn from(title: BookTitle) -> Self {
        title.0
    }
}

impl From<Description> for String {
    fn from(description: Description) -> Self {
        description.0
    }
}

/// One of [`CATEGORIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Category(&'static str);

impl Category {
    /// Parses a category, ignoring case and surrounding spaces.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let wanted = raw.trim().to_lowercase();
        CATEGORIES
            .iter()
            .find(|category| **category == wanted)
            .map(|category| Self(category))
            .ok_or_else(|| {
                FieldViolation::new(
                    "category",
                    format!("must be one of: {}", CATEGORIES.join(", ")),
                )
            })
    }

    /// The category as stored.
    pub(crate) fn as_str(&self) -> &'static str {
        self.0
    }

    /// The category stored as `stored`, which this service wrote; `None` for a value
    /// that is none of [`CATEGORIES`], which only a hand-edited row could hold.
    fn from_stored(stored: &str) -> Option<Self> {
        CATEGORIES
            .iter()
            .find(|category| **category == stored)
            .map(|category| Self(category))
    }
}

/// Why a stored category could not be read back.
fn unknown_category(stored: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("{stored:?} is not a category").into()
}

impl sqlx::Type<sqlx::Any> for Category {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <String as sqlx::Type<sqlx::Any>>::type_info()
    }

    fn compatible(kind: &sqlx::any::AnyTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Any>>::compatible(kind)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Category {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let stored = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
        Self::from_stored(&stored).ok_or_else(|| unknown_category(&stored))
    }
}

impl sqlite::FromSql for Category {
    fn column_result(value: sqlite::ValueRef<'_>) -> sqlite::FromSqlResult<Self> {
        let stored = value.as_str()?;
        Self::from_stored(stored)
            .ok_or_else(|| sqlite::FromSqlError::Other(unknown_category(stored)))
    }
}

impl<'a> postgres::FromSql<'a> for Category {
    fn from_sql(
        kind: &postgres::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let stored = <&str as postgres::FromSql>::from_sql(kind, raw)?;
        Self::from_stored(stored).ok_or_else(|| unknown_category(stored))
    }

    fn accepts(kind: &postgres::Type) -> bool {
        <&str as postgres::FromSql>::accepts(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(String::from(BookTitle::parse("  Dune ").unwrap()), "Dune");
        assert!(BookTitle::parse("   ").is_err());
        assert!(BookTitle::parse(&"x".repeat(201)).is_err());
        assert!(BookTitle::parse("Du\0ne").is_err());
        assert!(BookTitle::parse("Robert'); DROP TABLE books;--").is_ok());
    }

    #[test]
    fn categories_are_the_tutorials() {
        assert_eq!(
            Category::parse("Picture Book").unwrap().as_str(),
            "picture book"
        );
        assert!(Category::parse("cookery").is_err());
        assert!(Category::parse("").is_err());
    }
}
