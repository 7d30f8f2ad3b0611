//! The `uploads` and `upload_segments` tables: each resumable upload's record, the
//! one every replica reads. Appends are decided here, by conditional updates: a Write
//! holds an upload only while the committed size is the one it started from and no
//! other Write's hold is live, and each commit moves the size on only from the value
//! its writer last saw, so two appenders can never both win.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, Transaction};
use crate::domain::{UploadId, UserId};

/// One upload as recorded.
#[derive(Debug, Clone)]
pub(crate) struct UploadRecord {
    /// Its name.
    pub(crate) id: UploadId,
    /// The declared size once complete, or 0 when not known.
    pub(crate) length: i64,
    /// Bytes committed so far.
    pub(crate) committed: i64,
    /// Whether the last bytes were committed.
    pub(crate) complete: bool,
    /// The multipart upload holding its parts, on a bucket.
    pub(crate) multipart_id: Option<String>,
    /// When it is removed unless consumed, ms since the epoch.
    pub(crate) expires_at: i64,
}

/// One stretch of an upload's committed bytes, as the staging store wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Where its bytes start in the upload.
    pub(crate) start: i64,
    /// How many of its bytes are committed.
    pub(crate) length: i64,
    /// The file, or the part, that holds them.
    pub(crate) name: String,
}

/// A new upload.
pub(crate) struct NewUpload<'a> {
    /// Its name.
    pub(crate) id: &'a UploadId,
    /// Its owner.
    pub(crate) owner_id: &'a UserId,
    /// Its declared size, or 0.
    pub(crate) length: i64,
    /// The cover bytes it holds of its owner's quota while it exists.
    pub(crate) reserved: i64,
    /// The multipart upload created for it, on a bucket.
    pub(crate) multipart_id: Option<&'a str>,
    /// Now and its expiry, ms since the epoch.
    pub(crate) now: i64,
    pub(crate) expires_at: i64,
}

/// Why a Write could not take hold of an upload.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No such upload of this owner, or it expired.
    Missing,
    /// The offset is not the committed size, which is this.
    WrongOffset(i64),
    /// Another Write holds it; this much is committed.
    Busy(i64),
    /// Its last bytes were already written.
    Complete(i64),
}

/// A commit of a Write's progress.
pub(crate) struct Progress<'a> {
    /// The Write that holds the upload.
    pub(crate) writer: &'a str,
    /// The committed size it last saw.
    pub(crate) from: i64,
    /// The segment its bytes are in, as it now stands; `None` when no bytes are new
    /// (a finish with nothing more to add).
    pub(crate) segment: Option<&'a Segment>,
    /// Whether these are the last bytes.
    pub(crate) complete: bool,
    /// Until when its hold lasts now.
    pub(crate) until: i64,
}

const UPLOAD_COLUMNS: &str = "id, length, committed, complete, multipart_id, expires_at";

fn upload_record(row: &AnyRow) -> Result<UploadRecord, sqlx::Error> {
    Ok(UploadRecord {
        id: row.try_get("id")?,
        length: row.try_get("length")?,
        committed: row.try_get("committed")?,
        complete: row.try_get::<i64, _>("complete")? == 1,
        multipart_id: row.try_get("multipart_id")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Records a new upload and counts its reservation against its owner's quota of
    /// cover bytes, or refuses.
    pub(crate) async fn create_upload(&self, upload: NewUpload<'_>) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, length, committed, complete, reserved, \
             multipart_id, writer, writer_until, created_at, expires_at) \
             VALUES ($1, $2, $3, 0, 0, $4, $5, NULL, 0, $6, $7)",
        )
        .bind(upload.id)
        .bind(upload.owner_id)
        .bind(upload.length)
        .bind(upload.reserved)
        .bind(upload.multipart_id)
        .bind(upload.now)
        .bind(upload.expires_at)
        .execute(&mut *transaction)
        .await?;
        self.count(&mut transaction, upload.owner_id, 0, upload.reserved)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The owner's upload `id`, unless it is missing or expired at `now`.
    pub(crate) async fn upload(
        &self,
        owner_id: &UserId,
        id: &UploadId,
        now: i64,
    ) -> Result<Option<UploadRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1 AND owner_id = $2 \
             AND expires_at > $3"
        ))
        .bind(id)
        .bind(owner_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(upload_record).transpose()?)
    }

    /// Gives `writer` hold of the upload until `until`, if `offset` is its committed
    /// size and no other Write's hold is live; else why not.
    pub(crate) async fn hold_upload(
        &self,
        owner_id: &UserId,
        id: &UploadId,
        offset: i64,
        writer: &str,
        now: i64,
        until: i64,
    ) -> Result<Result<UploadRecord, Refusal>, StoreError> {
        let held = sqlx::query(&format!(
            "UPDATE uploads SET writer = $3, writer_until = $4 \
             WHERE id = $1 AND owner_id = $2 AND committed = $5 AND complete = 0 \
             AND expires_at > $6 AND (writer IS NULL OR writer_until < $6) \
             RETURNING {UPLOAD_COLUMNS}"
        ))
        .bind(id)
        .bind(owner_id)
        .bind(writer)
        .bind(until)
        .bind(offset)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = held {
            return Ok(Ok(upload_record(&row)?));
        }
        let Some(upload) = self.upload(owner_id, id, now).await? else {
            return Ok(Err(Refusal::Missing));
        };
        Ok(Err(if upload.complete {
            Refusal::Complete(upload.committed)
        } else if upload.committed != offset {
            Refusal::WrongOffset(upload.committed)
        } else {
            Refusal::Busy(upload.committed)
        }))
    }

    /// Commits a Write's progress: `false`, and nothing changed, if the Write no longer
    /// holds the upload or the committed size moved under it.
    pub(crate) async fn commit_progress(
        &self,
        id: &UploadId,
        progress: Progress<'_>,
    ) -> Result<bool, StoreError> {
        let segment = progress.segment;
        let mut transaction = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE uploads SET committed = $4, complete = $5, writer_until = $6 \
             WHERE id = $1 AND writer = $2 AND committed = $3",
        )
        .bind(id)
        .bind(progress.writer)
        .bind(progress.from)
        .bind(segment.map_or(progress.from, |segment| segment.start + segment.length))
        .bind(i64::from(progress.complete))
        .bind(progress.until)
        .execute(&mut *transaction)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        let Some(segment) = segment else {
            transaction.commit().await?;
            return Ok(true);
        };
        sqlx::query(
            "INSERT INTO upload_segments (upload_id, start_offset, length, name) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (upload_id, start_offset) \
             DO UPDATE SET length = excluded.length, name = excluded.name",
        )
        .bind(id)
        .bind(segment.start)
        .bind(segment.length)
        .bind(&segment.name)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Ends `writer`'s hold, so the next Write need not wait for it to lapse.
    pub(crate) async fn release_upload(
        &self,
        id: &UploadId,
        writer: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET writer = NULL WHERE id = $1 AND writer = $2")
            .bind(id)
            .bind(writer)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The segments of upload `id`, in order.
    pub(crate) async fn segments(&self, id: &UploadId) -> Result<Vec<Segment>, StoreError> {
        let rows = sqlx::query(
            "SELECT start_offset, length, name FROM upload_segments WHERE upload_id = $1 \
             ORDER BY start_offset",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Segment {
                    start: row.try_get("start_offset")?,
                    length: row.try_get("length")?,
                    name: row.try_get("name")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Removes the owner's upload `id` and gives its reservation back; its record, if
    /// it existed.
    pub(crate) async fn cancel_upload(
        &self,
        owner_id: &UserId,
        id: &UploadId,
    ) -> Result<Option<UploadRecord>, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let removed = self
            .remove_upload(
                &mut transaction,
                id,
                "owner_id = $2",
                Bound::Text(owner_id.as_str()),
            )
            .await?;
        if let Some((_, reserved)) = &removed {
            self.count(&mut transaction, owner_id, 0, -reserved).await?;
        }
        transaction.commit().await?;
        Ok(removed.map(|(upload, _)| upload.record))
    }

    /// Within a book's transaction, consumes the owner's complete upload `id`: the
    /// bytes it reserved, to give back in the same transaction; `UploadGone` if it is
    /// no longer there (consumed by another book, cancelled or expired meanwhile).
    pub(super) async fn consume_upload(
        &self,
        transaction: &mut Transaction,
        owner_id: &UserId,
        id: &UploadId,
    ) -> Result<i64, StoreError> {
        let condition = "owner_id = $2 AND complete = 1";
        match self
            .remove_upload(transaction, id, condition, Bound::Text(owner_id.as_str()))
            .await?
        {
            Some((_, reserved)) => Ok(reserved),
            None => Err(StoreError::UploadGone),
        }
    }

    /// Uploads expired at `now` that no Write holds, at most `limit`.
    pub(crate) async fn expired_uploads(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE expires_at <= $1 \
             AND (writer IS NULL OR writer_until < $1) ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(upload_record).collect::<Result<_, _>>()?)
    }

    /// Removes upload `id` if it is still expired and unheld at `now`, giving its
    /// reservation back: `false` if another replica's sweep took it first.
    pub(crate) async fn expire_upload(&self, id: &UploadId, now: i64) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let condition = "expires_at <= $2 AND (writer IS NULL OR writer_until < $2)";
        let removed = self
            .remove_upload(&mut transaction, id, condition, Bound::Number(now))
            .await?;
        let Some((upload, reserved)) = removed else {
            return Ok(false);
        };
        self.count(&mut transaction, &upload.owner_id, 0, -reserved)
            .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Deletes upload `id` and its segments where `condition` (on `$2`) holds: its
    /// record and the bytes it reserved, or `None`.
    async fn remove_upload(
        &self,
        transaction: &mut Transaction,
        id: &UploadId,
        condition: &str,
        second: Bound<'_>,
    ) -> Result<Option<(RemovedUpload, i64)>, StoreError> {
        let query = format!(
            "DELETE FROM uploads WHERE id = $1 AND {condition} \
             RETURNING {UPLOAD_COLUMNS}, owner_id, reserved"
        );
        let query = sqlx::query(&query).bind(id);
        let query = match second {
            Bound::Text(text) => query.bind(text),
            Bound::Number(number) => query.bind(number),
        };
        let Some(row) = query.fetch_optional(&mut **transaction).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM upload_segments WHERE upload_id = $1")
            .bind(id)
            .execute(&mut **transaction)
            .await?;
        let removed = RemovedUpload {
            record: upload_record(&row)?,
            owner_id: row.try_get("owner_id")?,
        };
        Ok(Some((removed, row.try_get("reserved")?)))
    }
}

/// The value a removal's condition is on.
enum Bound<'a> {
    Text(&'a str),
    Number(i64),
}

/// An upload just removed, and whose it was.
pub(crate) struct RemovedUpload {
    /// Its record.
    pub(crate) record: UploadRecord,
    /// Its owner.
    pub(crate) owner_id: UserId,
}
