//! A book's own fields (title, description, category), each valid by construction.

use bookshelf_runtime::errors::FieldViolation;

/// The categories a book may have, as the tutorial lists them.
pub const CATEGORIES: [&str; 8] = [
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookTitle(String);

impl BookTitle {
    /// Parses a title.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
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

    /// The title as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description: at most 2000 characters; line breaks and tabs are the only control
/// characters allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Parses a description.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
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

    /// The description as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One of [`CATEGORIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category(&'static str);

impl Category {
    /// Parses a category, ignoring case and surrounding spaces.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
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
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(BookTitle::parse("  Dune ").unwrap().as_str(), "Dune");
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
