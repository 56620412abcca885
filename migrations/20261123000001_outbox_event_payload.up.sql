-- Outbox events carry their type and data from the moment they are
-- written, in the same transaction as the change they record, so the
-- worker sends exactly what happened and knows nothing about resources.
ALTER TABLE outbox_events ADD COLUMN payload jsonb;

-- Until now the worker loaded the user at delivery time. Events written
-- before this migration get the user's data now; pending events whose
-- user is gone have nothing to send and are skipped, as before.
CREATE FUNCTION outbox_user_payload(user_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', u.id,
        'email', u.email,
        'name', u.name,
        'created_at', to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'updated_at', to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    FROM users u
    WHERE u.id = user_id
$$;

UPDATE outbox_events
SET payload = outbox_user_payload(aggregate_id)
WHERE event_type = 'user.created';

UPDATE outbox_events
SET status = 'skipped',
    last_error = 'user ' || aggregate_id || ' no longer existed when events began to carry their data',
    locked_until = NULL,
    finished_at = now()
WHERE payload IS NULL AND status = 'pending';

-- During the rollout the previous release still writes `user.created`
-- without a payload: fill it in the same transaction, from the user row
-- written just before. The column is tightened to NOT NULL, and this
-- trigger dropped, by a later migration once no such release runs.
CREATE FUNCTION outbox_events_fill_payload() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_type = 'user.created' THEN
        NEW.payload := outbox_user_payload(NEW.aggregate_id);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER outbox_events_fill_payload
    BEFORE INSERT ON outbox_events
    FOR EACH ROW WHEN (NEW.payload IS NULL)
    EXECUTE FUNCTION outbox_events_fill_payload();

-- Wake the workers when events are written: NOTIFY is delivered at
-- commit, once per transaction and channel. A lost notification only
-- delays delivery to the next poll.
CREATE FUNCTION outbox_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify
    AFTER INSERT ON outbox_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION outbox_events_notify();

-- Bulk re-drive by type and creation time.
CREATE INDEX outbox_events_status_type_idx ON outbox_events (status, event_type, created_at);
