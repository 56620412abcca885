//! The events users emit through the outbox, and the data each carries.
//!
//! Every write records what happened in the same transaction: the data is
//! fixed when the event is written, so `user.created` carries the user as
//! created, and is still delivered after the user is deleted.

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use super::User;
use crate::outbox::{EventType, NewEvent};

/// A user was created; the data is the user.
pub const USER_CREATED: EventType = EventType::from_static("user.created");
/// A user was changed; the data is the user after the change.
pub const USER_UPDATED: EventType = EventType::from_static("user.updated");
/// A user was deleted; the data is its id.
pub const USER_DELETED: EventType = EventType::from_static("user.deleted");

/// `user.created` for `user`.
pub(super) fn created(user: &User) -> NewEvent {
    NewEvent::new(
        USER_CREATED,
        user.id.as_uuid(),
        user_data(user),
        user.created_at,
    )
}

/// `user.updated` for `user` as it now is.
pub(super) fn updated(user: &User) -> NewEvent {
    NewEvent::new(
        USER_UPDATED,
        user.id.as_uuid(),
        user_data(user),
        user.updated_at,
    )
}

/// `user.deleted` for `user`, deleted at `at`.
pub(super) fn deleted(user: &User, at: time::OffsetDateTime) -> NewEvent {
    let mut data = Map::new();
    data.insert("id".to_owned(), json!(user.id.as_uuid()));
    NewEvent::new(USER_DELETED, user.id.as_uuid(), data, at)
}

fn user_data(user: &User) -> Map<String, Value> {
    let rfc3339 = |at: time::OffsetDateTime| at.format(&Rfc3339).unwrap_or_default();
    let mut data = Map::new();
    data.insert("id".to_owned(), json!(user.id.as_uuid()));
    data.insert("email".to_owned(), json!(user.email.as_str()));
    data.insert("name".to_owned(), json!(user.name.as_str()));
    data.insert("created_at".to_owned(), json!(rfc3339(user.created_at)));
    data.insert("updated_at".to_owned(), json!(rfc3339(user.updated_at)));
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{Email, NewUser, UserName};

    #[test]
    fn the_type_names_are_valid() {
        for event_type in [USER_CREATED, USER_UPDATED, USER_DELETED] {
            assert_eq!(
                EventType::parse(event_type.as_str()).as_ref(),
                Ok(&event_type)
            );
        }
    }

    #[test]
    fn events_carry_the_user_as_it_was_written() {
        let at = time::macros::datetime!(2026-11-23 10:00:00.5 UTC);
        let user = User::create(
            NewUser {
                email: Email::parse("ada@example.com").unwrap(),
                name: UserName::parse("Ada").unwrap(),
            },
            at,
        );
        let event = created(&user);
        assert_eq!(event.event_type, USER_CREATED);
        assert_eq!(event.aggregate_id, user.id.as_uuid());
        assert_eq!(
            Value::Object(event.payload),
            json!({
                "id": user.id.as_uuid(),
                "email": "ada@example.com",
                "name": "Ada",
                "created_at": "2026-11-23T10:00:00.5Z",
                "updated_at": "2026-11-23T10:00:00.5Z",
            })
        );
        let gone = deleted(&user, at);
        assert_eq!(
            Value::Object(gone.payload),
            json!({ "id": user.id.as_uuid() })
        );
    }
}
