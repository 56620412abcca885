//! [`StoreError`]: what every store port reports (a resource's table, the
//! outbox, idempotency keys), so the service can tell a client to retry
//! from a bug, and a taken unique value from both.

/// A failure of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused a write.
    #[error("unique constraint `{constraint}` violated")]
    UniqueViolation {
        /// The constraint's name.
        constraint: String,
    },
    /// The store cannot be reached or is overloaded right now; trying again
    /// later may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or a broken invariant.
    #[error("store failed")]
    Other(#[source] anyhow::Error),
}
