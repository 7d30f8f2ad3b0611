//! The book fields of `CreateBook` and `UpdateBook`, parsed by one parser, so both
//! answer a bad field in the same words.

use bookshelf_runtime::errors::FieldViolation;

use super::{
    fields::{BookTitle, Category, Description},
    ids::BookId,
};

/// A new book's fields, all required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BookFields {
    /// The title, unique among its owner's books.
    pub(crate) title: BookTitle,
    /// The description.
    pub(crate) description: Description,
    /// The category.
    pub(crate) category: Category,
}

impl BookFields {
    /// Parses a new book's fields, reporting every bad one at once.
    pub(crate) fn parse(
        title: &str,
        description: &str,
        category: &str,
    ) -> Result<Self, Vec<FieldViolation>> {
        match FieldChanges::parse(Some(title), Some(description), Some(category))? {
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

/// The fields an update sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldChanges {
    /// A new title.
    pub(crate) title: Option<BookTitle>,
    /// A new description.
    pub(crate) description: Option<Description>,
    /// A new category.
    pub(crate) category: Option<Category>,
}

impl FieldChanges {
    /// Parses each field sent. Every field is checked before any is refused, so a
    /// client learns of all its mistakes in one answer rather than one per attempt.
    pub(crate) fn parse(
        title: Option<&str>,
        description: Option<&str>,
        category: Option<&str>,
    ) -> Result<Self, Vec<FieldViolation>> {
        let title = title.map(BookTitle::parse).transpose();
        let description = description.map(Description::parse).transpose();
        let category = category.map(Category::parse).transpose();
        match (title, description, category) {
            (Ok(title), Ok(description), Ok(category)) => Ok(Self {
                title,
                description,
                category,
            }),
            (title, description, category) => Err([title.err(), description.err(), category.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// An update: the book it changes and the fields it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BookEdit {
    /// The book, among its caller's.
    pub(crate) id: BookId,
    /// The fields it sets.
    pub(crate) changes: FieldChanges,
}

/// What an upload writes: a new book, or changes to one of its caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BookWrite {
    /// `CreateBook`: a new book, which must come with a cover.
    Create(BookFields),
    /// `UpdateBook`: changes to a book, and a new cover if one comes.
    Update(BookEdit),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let violations = BookFields::parse(" ", "fine", "cookery").unwrap_err();
        assert_eq!(violations.len(), 2);
    }
}
