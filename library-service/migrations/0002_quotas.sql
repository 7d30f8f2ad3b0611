-- Per-account quotas. Each owner's use (books, stored cover bytes) is one row that
-- every write changing it updates first, in the same transaction as the book: the row
-- lock orders concurrent uploads, so a quota check can never be passed by two at once.

-- The size of each book's stored cover, so that deletes and replacements give it back.
ALTER TABLE books ADD COLUMN cover_bytes BIGINT NOT NULL DEFAULT 0;

CREATE TABLE account_usage (
    owner_id TEXT PRIMARY KEY,
    books BIGINT NOT NULL,
    cover_bytes BIGINT NOT NULL
);

-- Books stored before quotas existed count from now on; their covers' sizes were not
-- recorded, so they count as zero bytes.
INSERT INTO account_usage (owner_id, books, cover_bytes)
SELECT owner_id, COUNT(*), 0 FROM books GROUP BY owner_id;
