-- Users: the example resource.
-- The application lower-cases e-mail addresses before they get here, so a
-- plain unique constraint makes them unique case-insensitively.
CREATE TABLE users (
    id          uuid        PRIMARY KEY,
    email       text        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

-- Keyset pagination walks users in (created_at, id) order.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
