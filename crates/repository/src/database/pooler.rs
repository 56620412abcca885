//! [`Pool`]: the request pool, and how its connections reach PostgreSQL —
//! straight, or through a transaction-pooling proxy (PgBouncer in
//! `pool_mode = transaction`, before 1.21, with
//! `DATABASE_TRANSACTION_POOLER=true`).
//!
//! Through such a proxy a server connection is ours only until the end of
//! a transaction; outside one, only until the next `Sync`. sqlx sends a
//! statement in two steps, each ending in `Sync` (prepare, then bind and
//! execute), and names its prepared statements per client connection
//! (`sqlx_s_1`, …) even with its statement cache off. So behind the proxy:
//!
//! - every statement runs inside a transaction, where both steps reach the
//!   same server connection: a read outside a caller's transaction gets a
//!   [`Session`] that is one;
//! - each transaction begins by dropping the prepared statements other
//!   clients left on the server connection (`DEALLOCATE ALL`), so names
//!   never collide and never pile up, and by setting the statement timeout
//!   (`SET LOCAL`), which the proxy does not let the service send as a
//!   start-up parameter — all in the round trip of the `BEGIN`;
//! - no `LISTEN` and no session-level advisory locks: the outbox worker
//!   listens over `OUTBOX_LISTEN_URL` or polls, and migrations refuse to
//!   run here.
//!
//! Straight to PostgreSQL none of this costs anything: a [`Session`] is
//! the pooled connection itself, and statements stay prepared and cached.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use service::store::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::store_error;

/// The PostgreSQL connection pool, and whether a transaction pooler stands
/// between it and the server.
#[derive(Debug, Clone)]
pub struct Pool {
    connections: PgPool,
    /// `Some` behind a transaction pooler: the statement that begins every
    /// transaction.
    pooled_begin: Option<String>,
}

impl Pool {
    /// `connections` straight to PostgreSQL.
    pub const fn direct(connections: PgPool) -> Self {
        Self {
            connections,
            pooled_begin: None,
        }
    }

    /// `connections` through a transaction pooler; every transaction runs
    /// under `statement_timeout`.
    pub fn behind_transaction_pooler(connections: PgPool, statement_timeout: Duration) -> Self {
        Self {
            connections,
            pooled_begin: Some(format!(
                "BEGIN; SET LOCAL statement_timeout = {}; DEALLOCATE ALL",
                statement_timeout.as_millis()
            )),
        }
    }

    /// The sqlx pool underneath, for what needs no statement of ours:
    /// sizes, closing, `LISTEN` (direct pools only).
    pub const fn connections(&self) -> &PgPool {
        &self.connections
    }

    /// Closes every connection, waiting for those in use to come back.
    pub async fn close(&self) {
        self.connections.close().await;
    }

    /// A connection for statements outside a caller's transaction,
    /// recording how long the wait was. Call [`Session::finish`] after a
    /// write; dropping it unfinished undoes a write behind the pooler.
    pub(crate) async fn session(&self) -> Result<Session, StoreError> {
        if self.pooled_begin.is_some() {
            return Ok(Session(SessionKind::Pooled(self.begin().await?)));
        }
        let started = Instant::now();
        // Boxed where it is made: sqlx's acquire future holds a whole
        // connection attempt (about 14 KiB), and every future that awaited
        // it unboxed would carry and copy it.
        let result = Box::pin(self.connections.acquire()).await;
        record_wait(started);
        let conn = result.map_err(|e| store_error(e, Some(&self.connections)))?;
        Ok(Session(SessionKind::Direct(conn)))
    }

    /// Starts a transaction on a pooled connection, recording the wait
    /// (which includes the `BEGIN` round trip: sqlx cannot start a
    /// transaction on an already acquired connection it then owns).
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let started = Instant::now();
        // Boxed, as in `session`: the future holds a connection attempt.
        let result = match &self.pooled_begin {
            None => Box::pin(self.connections.begin()).await,
            Some(begin) => {
                Box::pin(
                    self.connections
                        .begin_with(sqlx::AssertSqlSafe(begin.clone())),
                )
                .await
            }
        };
        record_wait(started);
        result.map_err(|e| store_error(e, Some(&self.connections)))
    }
}

fn record_wait(started: Instant) {
    metrics::histogram!("db_pool_acquire_duration_seconds").record(started.elapsed().as_secs_f64());
}

/// A connection for statements outside a caller's transaction: the pooled
/// connection itself, or behind a transaction pooler a transaction.
pub(crate) struct Session(SessionKind);

enum SessionKind {
    Direct(PoolConnection<Postgres>),
    Pooled(Transaction<'static, Postgres>),
}

impl Session {
    /// Ends the session, committing what it wrote behind a pooler.
    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        match self.0 {
            SessionKind::Direct(_) => Ok(()),
            SessionKind::Pooled(tx) => tx.commit().await.map_err(|e| store_error(e, None)),
        }
    }
}

impl Deref for Session {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match &self.0 {
            SessionKind::Direct(conn) => conn,
            SessionKind::Pooled(tx) => tx,
        }
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.0 {
            SessionKind::Direct(conn) => conn,
            SessionKind::Pooled(tx) => tx,
        }
    }
}

/// `options` without what a transaction pooler refuses or loses: no
/// start-up parameters beyond the connection's own, and no statement cache
/// (a cached statement would be looked for on another server connection).
pub(super) fn without_session_state(options: PgConnectOptions) -> PgConnectOptions {
    options.statement_cache_capacity(0)
}
