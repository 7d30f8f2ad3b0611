//! The book fields of `CreateBook` and `UpdateBook`, parsed from their metadata
//! messages by one parser, so both answer a bad field in the same words.

use bookshelf_proto::library::v1::{BookChanges, NewBook};

use super::{BookId, BookTitle, Category, Description};
use crate::error::LibraryError;

/// A new book's fields, all required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookFields {
    /// The title, unique among its owner's books.
    pub title: BookTitle,
    /// The description.
    pub description: Description,
    /// The category.
    pub category: Category,
}

/// The fields an update sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldChanges {
    /// A new title.
    pub title: Option<BookTitle>,
    /// A new description.
    pub description: Option<Description>,
    /// A new category.
    pub category: Option<Category>,
}

impl FieldChanges {
    /// Parses each field sent. Every field is checked before any is refused, so a
    /// client learns of all its mistakes in one answer rather than one per attempt.
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        category: Option<&str>,
    ) -> Result<Self, LibraryError> {
        let title = title.map(BookTitle::parse).transpose();
        let description = description.map(Description::parse).transpose();
        let category = category.map(Category::parse).transpose();
        match (title, description, category) {
            (Ok(title), Ok(description), Ok(category)) => Ok(Self {
                title,
                description,
                category,
            }),
            (title, description, category) => Err(LibraryError::InvalidArgument(
                [title.err(), description.err(), category.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
        }
    }
}

impl TryFrom<NewBook> for BookFields {
    type Error = LibraryError;

    fn try_from(book: NewBook) -> Result<Self, LibraryError> {
        let sent = FieldChanges::parse(
            Some(&book.title),
            Some(&book.description),
            Some(&book.category),
        )?;
        match sent {
            FieldChanges {
                title: Some(title),
                description: Some(description),
                category: Some(category),
            } => Ok(Self {
                title,
                description,
                category,
            }),
            _ => unreachable!("every field was sent, and a field sent is parsed or refused"),
        }
    }
}

/// An update: the book it changes and the fields it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookEdit {
    /// The book, among its caller's.
    pub id: BookId,
    /// The fields it sets.
    pub changes: FieldChanges,
}

impl TryFrom<BookChanges> for BookEdit {
    type Error = LibraryError;

    /// An id that is not a UUID names no book, so it is answered as one that is
    /// missing, before any field is looked at.
    fn try_from(changes: BookChanges) -> Result<Self, LibraryError> {
        let id = BookId::parse(&changes.id).ok_or(LibraryError::NotFound)?;
        let changes = FieldChanges::parse(
            changes.title.as_deref(),
            changes.description.as_deref(),
            changes.category.as_deref(),
        )?;
        Ok(Self { id, changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let book = NewBook {
            title: " ".into(),
            description: "fine".into(),
            category: "cookery".into(),
        };
        match BookFields::try_from(book) {
            Err(LibraryError::InvalidArgument(violations)) => assert_eq!(violations.len(), 2),
            other => panic!("expected two violations, got {other:?}"),
        }
    }
}
