-- Services that call Bookshelf on their own behalf (an indexer, a moderation job),
-- registered by an operator. A client proves who it is with a JWT signed by one of the
-- keys in its `jwks` (a JSON Web Key Set of public keys only), so no secret of its
-- is ever stored here. `scopes` is the space-separated list it may ask for.
CREATE TABLE service_clients (
    name TEXT PRIMARY KEY,
    scopes TEXT NOT NULL,
    jwks TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The `jti` of every client assertion accepted, kept until the assertion expires: a
-- second use of one fails the primary key, whichever replica it reaches.
CREATE TABLE client_assertions (
    client_name TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_name, jti)
);

CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
