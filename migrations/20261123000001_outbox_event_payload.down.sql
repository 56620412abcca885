-- Back to events that carry only the user's id. The previous release
-- knows only `user.created` and cannot read the other types: they are
-- removed with the data they carried.
DROP INDEX outbox_events_status_type_idx;
DROP TRIGGER outbox_events_notify ON outbox_events;
DROP FUNCTION outbox_events_notify();
DROP TRIGGER outbox_events_fill_payload ON outbox_events;
DROP FUNCTION outbox_events_fill_payload();
DROP FUNCTION outbox_user_payload(uuid);
DELETE FROM outbox_events WHERE event_type <> 'user.created';
ALTER TABLE outbox_events DROP COLUMN payload;
