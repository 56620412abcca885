//! The transactional outbox and its delivery worker.
//!
//! A use case that must tell the outside world something writes an event,
//! with its type and data, in the same transaction as its change
//! ([`NewEvent`], through its transaction's [`OutboxWriter`]). The
//! [`DeliveryWorker`] claims due events with a lease, woken by
//! [`WakeUps`] when events are written and polling as a fallback, and hands
//! each one's stored data to a [`WebhookSender`] behind a circuit breaker;
//! each outcome is recorded on the event (delivered, retried later with
//! backoff, or dead). The worker knows no resource: an event it cannot
//! send is dead alone, with the reason.

mod model;
mod ports;
mod retry;
mod supervise;
mod worker;

pub use self::model::{
    EventId, EventStatus, EventType, EventTypeError, NewEvent, OutboxEvent, WebhookMessage,
};
pub use self::ports::{
    Claimed, OutboxStore, OutboxWriter, RedriveFilter, SendOutcome, WakeUps, WebhookSender,
};
pub use self::retry::RetryPolicy;
pub use self::supervise::{describe_metrics, supervise};
pub use self::worker::{DeliveryWorker, WorkerSettings};
