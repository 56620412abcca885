//! [`PgTransaction`]: one PostgreSQL transaction, the type every resource's
//! transaction port is implemented on. It writes outbox events and claims
//! idempotency keys itself, so a resource's store only adds its own
//! statements: it implements its transaction port on this type, and its
//! `commit` calls [`PgTransaction::commit_tx`].

use async_trait::async_trait;
use service::idempotency::{Claim, IdempotencyWriter, KeyedRequest, StoredAnswer};
use service::outbox::{NewEvent, OutboxWriter};
use service::store::StoreError;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::database::{Pool, store_error};

/// One PostgreSQL transaction; rolled back when dropped uncommitted.
pub struct PgTransaction {
    tx: Transaction<'static, Postgres>,
}

impl std::fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction").finish_non_exhaustive()
    }
}

impl PgTransaction {
    /// Begins a transaction on `pool`: for a resource's store, or for a
    /// caller that writes events with no change of its own (an operator's
    /// tool, a scheduled job, the outbox's tests).
    ///
    /// # Errors
    /// The pool's, as for any statement (`Unavailable` when PostgreSQL is
    /// out of reach).
    pub async fn begin(pool: &Pool) -> Result<Self, StoreError> {
        Ok(Self::new(pool.begin().await?))
    }

    /// Wraps a begun transaction.
    pub const fn new(tx: Transaction<'static, Postgres>) -> Self {
        Self { tx }
    }

    /// The connection the resource's statements run on.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Commits. A commit cut off by a lost connection has an unknown
    /// outcome; it is reported as unavailable, and a retry meets the unique
    /// constraints rather than writing twice.
    #[tracing::instrument(name = "db.commit", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    pub async fn commit_tx(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(|e| store_error(e, None))
    }
}

#[async_trait]
impl OutboxWriter for PgTransaction {
    #[tracing::instrument(name = "db.outbox.enqueue", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn enqueue(&mut self, event: &NewEvent) -> Result<(), StoreError> {
        crate::outbox::insert(&mut self.tx, event).await
    }
}

#[async_trait]
impl IdempotencyWriter for PgTransaction {
    #[tracing::instrument(name = "db.idempotency.claim", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn claim(&mut self, request: &KeyedRequest) -> Result<Claim, StoreError> {
        crate::idempotency::claim(&mut self.tx, request).await
    }

    #[tracing::instrument(name = "db.idempotency.save", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn save_answer(
        &mut self,
        request: &KeyedRequest,
        answer: &StoredAnswer,
    ) -> Result<(), StoreError> {
        crate::idempotency::save_answer(&mut self.tx, request, answer).await
    }
}
