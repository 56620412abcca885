//! Outbox events.

use std::borrow::Cow;
use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

/// An event's id: a UUIDv7, also the `webhook-id` receivers deduplicate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(Uuid);

impl EventId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an id from a store or a request.
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What happened, as receivers see it in `type`: lower-case dotted words
/// such as `order.created`. Any service names its own; the worker sends
/// whatever was written and knows none of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(Cow<'static, str>);

/// A string that is not an event type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an event type: lower-case words of letters, digits and `_`, joined by dots, at most {max} characters",
    max = EventType::MAX_LEN
)]
pub struct EventTypeError(pub String);

impl EventType {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 100;

    /// A name written in code, e.g. `EventType::from_static("order.created")`.
    /// Not checked here (it is a constant); each service's tests parse its
    /// names with [`EventType::parse`].
    pub const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// Reads a stored name.
    ///
    /// # Errors
    /// [`EventTypeError`] unless `raw` is at least two dot-separated words
    /// of `a-z`, `0-9` and `_`, each starting with a letter.
    pub fn parse(raw: &str) -> Result<Self, EventTypeError> {
        let word_ok = |w: &str| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if raw.len() <= Self::MAX_LEN && raw.split('.').count() >= 2 && raw.split('.').all(word_ok)
        {
            Ok(Self(Cow::Owned(raw.to_owned())))
        } else {
            Err(EventTypeError(raw.to_owned()))
        }
    }

    /// The wire name, e.g. `order.created`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// The receiver accepted it.
    Delivered,
    /// Given up: rejected, or out of attempts. Kept and re-drivable.
    Dead,
    /// Nothing was delivered: events written before events carried their
    /// data, whose row was deleted first. No longer written.
    Skipped,
}

impl EventStatus {
    /// Every status, for gauges and listings.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Delivered, Self::Dead, Self::Skipped];

    /// Its stored and displayed name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Skipped => "skipped",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// An event to write with the change it describes: what happened and the
/// data receivers get, fixed when it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its id.
    pub id: EventId,
    /// What happened.
    pub event_type: EventType,
    /// What it happened to (e.g. the order's id), for listing and tracing.
    pub aggregate_id: Uuid,
    /// The `data` object receivers get.
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// When.
    pub created_at: OffsetDateTime,
}

impl NewEvent {
    /// A new event about `aggregate_id`, due at once.
    pub fn new(
        event_type: EventType,
        aggregate_id: Uuid,
        payload: serde_json::Map<String, serde_json::Value>,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            id: EventId::generate(),
            event_type,
            aggregate_id,
            payload,
            created_at,
        }
    }
}

/// A stored event, as listed. Its type is the stored text, whatever it is,
/// so a listing never fails on a row this build could not send; its data is
/// not here (it may hold personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its id.
    pub id: EventId,
    /// What happened, as stored.
    pub event_type: String,
    /// What it happened to.
    pub aggregate_id: Uuid,
    /// Where it is.
    pub status: EventStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due.
    pub next_attempt_at: OffsetDateTime,
    /// When it was written.
    pub created_at: OffsetDateTime,
}

/// What the sender delivers: the Standard Webhooks message.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookMessage {
    /// The `webhook-id`: stable across retries.
    pub id: EventId,
    /// The `type`, e.g. `order.created`.
    pub event_type: EventType,
    /// The event's time (`timestamp` in the body).
    pub timestamp: OffsetDateTime,
    /// The `data` object.
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names() {
        for good in ["order.created", "order.line_item.added", "a.b", "v2.thing9"] {
            assert_eq!(EventType::parse(good).unwrap().as_str(), good);
        }
        let long = format!("a.{}", "b".repeat(EventType::MAX_LEN));
        for bad in [
            "",
            "order",
            "Order.created",
            "order..created",
            ".order",
            "order.",
            "order.9x",
            "order created",
            "order.créé",
            "order-created.x",
            &long,
        ] {
            assert_eq!(
                EventType::parse(bad),
                Err(EventTypeError(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
