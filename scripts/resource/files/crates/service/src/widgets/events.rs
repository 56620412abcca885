//! The events widgets emit through the outbox, and the data each carries.
//!
//! Every write records what happened in the same transaction: the data is
//! fixed when the event is written, so `widget.created` carries the widget
//! as created, and is still delivered after the widget is deleted.

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use super::Widget;
use crate::outbox::{EventType, NewEvent};

/// A widget was created; the data is the widget.
pub const WIDGET_CREATED: EventType = EventType::from_static("widget.created");
/// A widget was changed; the data is the widget after the change.
pub const WIDGET_UPDATED: EventType = EventType::from_static("widget.updated");
/// A widget was deleted; the data is its id.
pub const WIDGET_DELETED: EventType = EventType::from_static("widget.deleted");

/// `widget.created` for `widget`.
pub(super) fn created(widget: &Widget) -> NewEvent {
    NewEvent::new(
        WIDGET_CREATED,
        widget.id.as_uuid(),
        widget_data(widget),
        widget.created_at,
    )
}

/// `widget.updated` for `widget` as it now is.
pub(super) fn updated(widget: &Widget) -> NewEvent {
    NewEvent::new(
        WIDGET_UPDATED,
        widget.id.as_uuid(),
        widget_data(widget),
        widget.updated_at,
    )
}

/// `widget.deleted` for `widget`, deleted at `at`.
pub(super) fn deleted(widget: &Widget, at: time::OffsetDateTime) -> NewEvent {
    let mut data = Map::new();
    data.insert("id".to_owned(), json!(widget.id.as_uuid()));
    NewEvent::new(WIDGET_DELETED, widget.id.as_uuid(), data, at)
}

fn widget_data(widget: &Widget) -> Map<String, Value> {
    let rfc3339 = |at: time::OffsetDateTime| at.format(&Rfc3339).unwrap_or_default();
    let mut data = Map::new();
    data.insert("id".to_owned(), json!(widget.id.as_uuid()));
    data.insert("name".to_owned(), json!(widget.name.as_str()));
    data.insert("created_at".to_owned(), json!(rfc3339(widget.created_at)));
    data.insert("updated_at".to_owned(), json!(rfc3339(widget.updated_at)));
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::widgets::{NewWidget, WidgetName};

    #[test]
    fn the_type_names_are_valid() {
        for event_type in [WIDGET_CREATED, WIDGET_UPDATED, WIDGET_DELETED] {
            assert_eq!(
                EventType::parse(event_type.as_str()).as_ref(),
                Ok(&event_type)
            );
        }
    }

    #[test]
    fn events_carry_the_widget_as_it_was_written() {
        let at = time::macros::datetime!(2026-11-23 10:00:00.5 UTC);
        let widget = Widget::create(
            NewWidget {
                name: WidgetName::parse("Blue").unwrap(),
            },
            at,
        );
        let event = created(&widget);
        assert_eq!(event.event_type, WIDGET_CREATED);
        assert_eq!(event.aggregate_id, widget.id.as_uuid());
        assert_eq!(
            Value::Object(event.payload),
            json!({
                "id": widget.id.as_uuid(),
                "name": "Blue",
                "created_at": "2026-11-23T10:00:00.5Z",
                "updated_at": "2026-11-23T10:00:00.5Z",
            })
        );
        let gone = deleted(&widget, at);
        assert_eq!(
            Value::Object(gone.payload),
            json!({ "id": widget.id.as_uuid() })
        );
    }
}
