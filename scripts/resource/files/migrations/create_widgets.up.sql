-- The widgets table: a name and the times of creation and of the last change.
CREATE TABLE widgets (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT widgets_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

-- Keyset pagination walks widgets in (created_at, id) order.
CREATE INDEX widgets_created_at_id_idx ON widgets (created_at, id);
