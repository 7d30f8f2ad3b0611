-- Books and their covers. Written in the SQL that SQLite and PostgreSQL share:
-- times are milliseconds since the epoch in BIGINT, ids are UUID strings.
-- Owners are auth-service user ids; this database never joins the auth database.

CREATE TABLE books (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    -- The file name of the cover thumbnail in cover storage: long, random, chosen here.
    cover_id TEXT UNIQUE,
    cover_content_type TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- The constraint, not a lookup, is what keeps titles unique per owner.
    CONSTRAINT books_owner_title UNIQUE (owner_id, title)
);

-- Listing pages through one owner's books in creation order.
CREATE INDEX books_owner_created ON books (owner_id, created_at, id);
