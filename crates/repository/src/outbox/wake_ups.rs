//! [`PgWakeUps`]: wakes the outbox worker on PostgreSQL's `NOTIFY`.
//!
//! An insert trigger on `outbox_events` (and a bulk re-drive) sends
//! `NOTIFY outbox_events`, delivered at commit. One connection per process
//! listens; it is a hint only: notifications sent while the listener is
//! reconnecting are lost, so the worker is also woken after every
//! reconnect, and it polls on its own anyway.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use service::outbox::WakeUps;
use service::store::StoreError;
use sqlx::postgres::PgListener;
use sqlx::{Postgres, Transaction};
use tokio::sync::Notify;

use crate::database::{Pool, store_error};

/// The channel the trigger notifies.
const CHANNEL: &str = "outbox_events";
/// Longest wait between attempts to listen again after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Sends the wake-up from inside a transaction (delivered at its commit).
pub(crate) async fn notify(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_notify('outbox_events', '')")
        .execute(&mut **tx)
        .await
        .map_err(|e| store_error(e, None))?;
    Ok(())
}

/// Wake-ups from `LISTEN outbox_events`. [`PgWakeUps::run`] listens (the
/// binary runs it as a background task); the worker waits on it.
#[derive(Debug, Clone)]
pub struct PgWakeUps {
    pool: Pool,
    bell: Arc<Notify>,
}

impl PgWakeUps {
    /// Wake-ups over a connection of `pool` (one, held while listening):
    /// a session connection, never one through a transaction pooler.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            bell: Arc::new(Notify::new()),
        }
    }

    /// Listens until dropped, reconnecting with backoff; never returns.
    pub async fn run(&self) {
        let mut failures: u32 = 0;
        loop {
            match self.listen().await {
                Ok(()) => failures = 0,
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_millis(100)
                        .saturating_mul(1 << failures.min(7))
                        .min(MAX_BACKOFF);
                    tracing::debug!(
                        error = %format_args!("{err:#}"),
                        retry_in = ?wait,
                        "listening for outbox events failed; the worker polls meanwhile"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One listening session: until the connection is lost.
    async fn listen(&self) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(self.pool.connections()).await?;
        listener.listen(CHANNEL).await?;
        // Anything written while nobody listened is claimable now.
        self.bell.notify_one();
        loop {
            match listener.try_recv().await? {
                Some(_) => self.bell.notify_one(),
                // The connection was lost; notifications may have been
                // missed meanwhile.
                None => {
                    self.bell.notify_one();
                    return Ok(());
                }
            }
        }
    }
}

#[async_trait]
impl WakeUps for PgWakeUps {
    async fn wait(&self) {
        self.bell.notified().await;
    }
}
