//! The name of a resumable upload: chosen by the service, long and random, so that it
//! can be handed to a client as the only thing it resumes with.

use std::fmt;

/// An upload id: `u` and 64 lower-case hexadecimal digits (256 random bits). The
/// letter keeps it apart from a cover id, so neither can be taken for the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct UploadId(String);

impl UploadId {
    /// A fresh, unguessable id.
    pub(crate) fn random() -> Self {
        Self(format!(
            "u{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Parses an id this service could have chosen; anything else names no upload and
    /// never reaches the database or the disk.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('u')?;
        (digits.len() == 64
            && digits
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| Self(raw.to_owned()))
    }

    /// The id as stored, answered and used in file names.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_the_service_could_choose_parse() {
        let id = UploadId::random();
        assert_eq!(UploadId::parse(id.as_str()), Some(id.clone()));
        for other in [
            &id.as_str()[1..],
            "u../../etc/passwd",
            &format!("{id}0"),
            &id.as_str().to_uppercase(),
            "",
        ] {
            assert!(UploadId::parse(other).is_none(), "{other:?} parsed");
        }
    }
}
