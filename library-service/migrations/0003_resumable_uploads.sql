-- Resumable uploads of covers. The row is the upload's record on every replica: its
-- owner, the bytes committed so far, whether the last ones arrived, when it expires,
-- and which Write holds it. Appends are decided by conditional updates on this row
-- (the committed size and the writer), so two appenders can never both win.

CREATE TABLE uploads (
    -- Long and random, chosen here: the name clients resume with.
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    -- The declared size once complete; 0 when not yet known.
    length BIGINT NOT NULL,
    -- Bytes committed so far; never goes back.
    committed BIGINT NOT NULL,
    -- 1 once the last bytes were committed.
    complete INTEGER NOT NULL,
    -- Cover bytes counted against the owner's quota (account_usage.cover_bytes) while
    -- the upload exists: given back when it is consumed, cancelled or expires.
    reserved BIGINT NOT NULL,
    -- The multipart upload holding its parts, on a bucket.
    multipart_id TEXT,
    -- The Write appending now, and until when its hold lasts without renewal.
    writer TEXT,
    writer_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX uploads_expires ON uploads (expires_at);

-- What an upload's committed bytes are made of, in order: files in a folder (each
-- appended by one Write only), or parts of a multipart upload in a bucket.
CREATE TABLE upload_segments (
    upload_id TEXT NOT NULL,
    -- Where the segment's bytes start in the upload.
    start_offset BIGINT NOT NULL,
    -- How many of its bytes are committed.
    length BIGINT NOT NULL,
    -- The file name, or the part number and its entity tag.
    name TEXT NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);
