//! The book write transactions of the library service with nothing around them, for
//! the benchmark harness's write floors: the same store calls that creating a book
//! without a cover, changing its fields and deleting it make, on a database of the
//! harness's choosing, without gRPC, a token check or a gateway. Not part of the
//! service's API.

use bookshelf_runtime::{
    db::{self, DbError},
    sqlite_writes::Synchronous,
};

use crate::{
    domain::{BookFields, BookId, BookTitle, Category, Description, FieldChanges, UserId},
    store::{NewBookRecord, Quota, Store, StoreError},
};

/// Why a floor's transaction did not do its work.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// The database could not be opened.
    #[error("cannot open the database")]
    Open(#[from] DbError),
    /// A store call failed.
    #[error("store call failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The book was not there to change or delete.
    #[error("no such book")]
    NotFound,
}

/// A migrated database whose one owner's books the floors create, change and delete.
#[derive(Debug, Clone)]
pub struct WriteFloor {
    store: Store,
    owner: UserId,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

impl WriteFloor {
    /// Opens and migrates the database at `url` (with `synchronous` on SQLite), for
    /// an owner with room for every book a run makes.
    pub async fn open(url: &str, synchronous: Synchronous) -> Result<Self, FloorError> {
        let database = db::connect_with(url, &sqlx::migrate!(), synchronous).await?;
        let quota = Quota {
            max_books: i64::MAX,
            max_cover_bytes: i64::MAX,
        };
        let owner = UserId::named(&uuid::Uuid::new_v4().to_string()).expect("a user id");
        Ok(Self {
            store: Store::new(database, quota),
            owner,
        })
    }

    /// Creates a book titled `title` without a cover: its id.
    pub async fn create(&self, title: &str) -> Result<String, FloorError> {
        let id = BookId::random();
        let fields = BookFields {
            title: BookTitle::parse(title).expect("a valid title"),
            description: Description::parse("A book made by the write floor.")
                .expect("a valid description"),
            category: Category::parse("science").expect("a category"),
        };
        self.store
            .insert(NewBookRecord {
                id: &id,
                owner_id: &self.owner,
                fields: &fields,
                cover: None,
                consumes: None,
                now: now_ms(),
            })
            .await?;
        Ok(id.as_str().to_owned())
    }

    /// Changes book `id`'s description (fields only, no cover).
    pub async fn update(&self, id: &str, description: &str) -> Result<(), FloorError> {
        let id = BookId::parse(id).ok_or(FloorError::NotFound)?;
        let changes = FieldChanges {
            title: None,
            description: Some(Description::parse(description).expect("a valid description")),
            category: None,
        };
        let update = crate::store::BookUpdate {
            fields: &changes,
            cover: None,
            replacing: None,
            consumes: None,
        };
        self.store
            .update(&self.owner, &id, update, now_ms())
            .await?
            .map(|_| ())
            .ok_or(FloorError::NotFound)
    }

    /// Deletes book `id`.
    pub async fn delete(&self, id: &str) -> Result<(), FloorError> {
        let id = BookId::parse(id).ok_or(FloorError::NotFound)?;
        self.store
            .delete(&self.owner, &id)
            .await?
            .map(|_| ())
            .ok_or(FloorError::NotFound)
    }
}

impl From<StoreError> for FloorError {
    fn from(error: StoreError) -> Self {
        Self::Store(Box::new(error))
    }
}
