-- The transactional outbox: events written in the same transaction as the
-- change they describe, delivered afterwards by the worker.
CREATE TABLE outbox_events (
    id              uuid        PRIMARY KEY,        -- UUIDv7; the webhook-id
    event_type      text        NOT NULL,           -- e.g. user.created
    aggregate_id    uuid        NOT NULL,           -- the user; loaded at delivery
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,                    -- lease of the worker holding it
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,                    -- delivered, dead or skipped
    CONSTRAINT outbox_events_status_check
        CHECK (status IN ('pending', 'delivered', 'dead', 'skipped')),
    CONSTRAINT outbox_events_attempts_check CHECK (attempts >= 0)
);

-- The worker's claim: due pending events, oldest first.
CREATE INDEX outbox_events_due_idx ON outbox_events (next_attempt_at)
    WHERE status = 'pending';
-- The admin listing by status.
CREATE INDEX outbox_events_status_idx ON outbox_events (status, created_at);
