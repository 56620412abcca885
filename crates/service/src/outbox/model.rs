//! Outbox events.

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

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A user was created; the payload is the user.
    UserCreated,
}

impl EventType {
    /// The wire name, e.g. `user.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "user.created" => Some(Self::UserCreated),
            _ => None,
        }
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
    /// Nothing to deliver (the user was deleted before delivery).
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

/// An event to write with the change it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Its id.
    pub id: EventId,
    /// What happened.
    pub event_type: EventType,
    /// What it happened to (the user's id).
    pub aggregate_id: Uuid,
    /// When.
    pub created_at: OffsetDateTime,
}

impl NewEvent {
    /// A new event about `aggregate_id`, due at once.
    pub fn new(event_type: EventType, aggregate_id: Uuid, created_at: OffsetDateTime) -> Self {
        Self {
            id: EventId::generate(),
            event_type,
            aggregate_id,
            created_at,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its id.
    pub id: EventId,
    /// What happened.
    pub event_type: EventType,
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
    /// The `type`, e.g. `user.created`.
    pub event_type: EventType,
    /// The event's time (`timestamp` in the body).
    pub timestamp: OffsetDateTime,
    /// The `data` object.
    pub data: serde_json::Value,
}
