-- Idempotency keys: a key is claimed and its answer stored in the
-- transaction of the effect, so a key with an answer exists exactly when
-- the effect does. Keys are scoped by operation (e.g. users.create).
CREATE TABLE idempotency_keys (
    operation   text        NOT NULL,
    key         text        NOT NULL,
    fingerprint bytea       NOT NULL,   -- SHA-256 of the normalised input
    status      smallint,               -- the stored answer; set before commit
    location    text,
    body        bytea,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (operation, key),
    CONSTRAINT idempotency_keys_key_length CHECK (octet_length(key) BETWEEN 1 AND 255)
);

-- The background purge of expired keys.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
