//! What the outbox needs: a way for any service to enqueue an event in its
//! own transaction ([`OutboxWriter`]), and for the worker a store of events
//! ([`OutboxStore`]), a wake-up when events are written ([`WakeUps`]) and a
//! sender ([`WebhookSender`]).

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{EventId, EventStatus, NewEvent, OutboxEvent, WebhookMessage};
use crate::store::StoreError;

/// Writes events inside a service's open transaction: the event exists
/// exactly when the change it records does. Every resource's transaction
/// implements it (the repository has one function for all of them).
#[async_trait]
pub trait OutboxWriter: Send {
    /// Writes `event` in this transaction.
    async fn enqueue(&mut self, event: &NewEvent) -> Result<(), StoreError>;
}

/// An event claimed by this worker until `lease` (the store's clock).
/// Every update names the lease, so a worker whose lease lapsed and was
/// taken over cannot overwrite the new holder's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The event as claimed.
    pub event: OutboxEvent,
    /// The data written with it: `None` only for a row no release wrote
    /// properly (it cannot be sent and is marked dead).
    pub payload: Option<serde_json::Value>,
    /// The lease's end, also its token.
    pub lease: OffsetDateTime,
}

/// Which dead events a bulk re-drive puts back: every condition given must
/// hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveFilter {
    /// Only events of this type (the stored text).
    pub event_type: Option<String>,
    /// Only events written at or after this time.
    pub created_from: Option<OffsetDateTime>,
    /// Only events written before this time.
    pub created_before: Option<OffsetDateTime>,
}

/// The outbox table.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Leases up to `limit` due pending events for `lease`, skipping rows
    /// other workers hold, oldest due first.
    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, StoreError>;

    /// Marks a claimed event delivered. `false` when the lease was lost.
    async fn mark_delivered(&self, claimed: &Claimed) -> Result<bool, StoreError>;

    /// Records a failed attempt and schedules the next one after `delay`.
    async fn mark_retry(
        &self,
        claimed: &Claimed,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError>;

    /// Records a final failure: the event is dead.
    async fn mark_dead(&self, claimed: &Claimed, error: &str) -> Result<bool, StoreError>;

    /// Gives a claimed event back without spending an attempt, due again
    /// after `delay` (breaker open, shutting down).
    async fn release(&self, claimed: &Claimed, delay: Duration) -> Result<bool, StoreError>;

    /// Events with `status` (all when `None`), newest first.
    async fn list(
        &self,
        status: Option<EventStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Puts a dead event back to pending, due now, with its attempts reset.
    /// `false` when there is no dead event with this id.
    async fn redrive(&self, id: EventId) -> Result<bool, StoreError>;

    /// Puts every dead event matching `filter` back to pending, due now,
    /// with its attempts reset, in one statement. Returns how many.
    async fn redrive_matching(&self, filter: &RedriveFilter) -> Result<u64, StoreError>;

    /// How many events are in each status.
    async fn counts(&self) -> Result<Vec<(EventStatus, i64)>, StoreError>;
}

/// Wakes the worker when events may have become due, so it need not poll
/// hard. A hint only: it may wake spuriously or miss a write (the worker
/// polls anyway, so a missed wake-up delays, never loses, an event).
#[async_trait]
pub trait WakeUps: Send + Sync + 'static {
    /// Resolves at the next wake-up (at once if one came since the last
    /// call).
    async fn wait(&self);
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted (`2xx`).
    Delivered,
    /// Worth another attempt: timeout, connection error, `408`, `429`,
    /// `5xx`. `retry_after` is the receiver's `Retry-After`.
    Retryable {
        /// What happened.
        error: String,
        /// The receiver's requested wait.
        retry_after: Option<Duration>,
        /// Whether the attempt timed out.
        timed_out: bool,
    },
    /// Refused for good (another `4xx`): retrying cannot help.
    Rejected {
        /// What happened.
        error: String,
    },
}

impl SendOutcome {
    /// Whether the dependency itself looked unhealthy (for the breaker): a
    /// rejection means it is up and answering.
    pub const fn is_dependency_failure(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

/// Delivers webhook messages (over HTTP, or to the log).
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// One attempt. Never panics on a bad response; a transport failure is
    /// a [`SendOutcome::Retryable`].
    async fn send(&self, message: &WebhookMessage) -> SendOutcome;
}
