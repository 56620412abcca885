//! What runs beside the listeners: start-up (database, migrations, first
//! dependency checks), the background workers it starts once finished, and
//! their wiring.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use config::{CacheSettings, HealthSettings, Settings};
use outbound::http::{ClientSettings, OutboundClient};
use outbound::webhook::{HttpWebhookSender, LogWebhookSender, SigningKey};
use repository::database;
use repository::outbox::PgWakeUps;
use service::breaker::Breaker;
use service::cache::{CacheGuard, CacheReset};
use service::health::Health;
use service::idempotency::{self, IdempotencyStore};
use service::outbox::{self, DeliveryWorker, OutboxStore, WebhookSender};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::telemetry;

/// The outbox worker, what wakes it, and the breaker before its webhook.
#[derive(Debug)]
pub(super) struct OutboxWorker {
    worker: Arc<DeliveryWorker>,
    /// `None` where `LISTEN` cannot work (behind a transaction pooler
    /// without `OUTBOX_LISTEN_URL`): the worker polls only.
    wake_ups: Option<PgWakeUps>,
    breaker: Arc<Breaker>,
}

impl OutboxWorker {
    /// The webhook's breaker, for readiness.
    pub(super) fn breaker(&self) -> Arc<Breaker> {
        Arc::clone(&self.breaker)
    }
}

/// How often expired idempotency keys are purged.
const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// The guard around every cache call: `CACHE_TIMEOUT`, a breaker open for
/// `CACHE_BREAKER_COOL_DOWN`, and no trust after a failed invalidation;
/// `config` fills both policies.
pub(super) fn cache_guard(settings: &CacheSettings, reset: Arc<dyn CacheReset>) -> CacheGuard {
    CacheGuard::new(
        reset,
        settings.policy,
        Arc::new(Breaker::new("redis", settings.breaker)),
    )
}

/// The background work that needs a started service: it is spawned by
/// [`start_up`] once the database is reached and migrated, never before, so
/// a first run on a database that does not exist yet logs no errors.
pub(super) struct BackgroundWork {
    pub(super) worker: Option<OutboxWorker>,
    pub(super) idempotency: Arc<dyn IdempotencyStore>,
    pub(super) tasks: TaskTracker,
    pub(super) cancel: CancellationToken,
}

impl BackgroundWork {
    pub(super) fn spawn(self) {
        let (idempotency, cancel) = (Arc::clone(&self.idempotency), self.cancel.clone());
        self.tasks.spawn(async move {
            idempotency::purge_expired(&*idempotency, IDEMPOTENCY_PURGE_INTERVAL, cancel).await;
        });
        match self.worker {
            Some(OutboxWorker {
                worker, wake_ups, ..
            }) => {
                if let Some(wake_ups) = wake_ups {
                    let cancel = self.cancel.clone();
                    self.tasks.spawn(async move {
                        tokio::select! {
                            () = cancel.cancelled() => {}
                            () = wake_ups.run() => {}
                        }
                    });
                }
                self.tasks
                    .spawn(outbox::supervise(worker, self.cancel.clone()));
                tracing::info!("the outbox worker started");
            }
            None => {
                tracing::info!("the outbox worker is off here (OUTBOX_WORKER_ENABLED=false)");
            }
        }
    }
}

/// Start-up in the background: wait for the database (creating and
/// migrating it when `DATABASE_MIGRATE_ON_START`, otherwise checking that
/// every migration is applied), check the dependencies once, mark the
/// service started, start the background workers, then keep checking the
/// dependencies on an interval.
pub(super) async fn start_up(
    settings: Settings,
    pool: database::Pool,
    health: Arc<Health>,
    background: BackgroundWork,
) {
    let cancel = background.cancel.clone();
    let attempt = || prepare_database(settings.database.clone(), pool.clone());
    let retries = attempt
        .retry(
            ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .without_max_times(),
        )
        .notify(|err: &anyhow::Error, wait: Duration| {
            tracing::warn!(error = %format_args!("{err:#}"), retry_in = ?wait, "start-up is waiting for the database");
        });
    tokio::select! {
        () = cancel.cancelled() => return,
        result = retries => if let Err(err) = result {
            // Unreachable with unlimited retries; logged should that change.
            tracing::error!(error = %format_args!("{err:#}"), "start-up gave up");
            return;
        },
    }
    let HealthSettings {
        interval, timeout, ..
    } = settings.health;
    health.check_all(timeout).await;
    health.mark_started();
    tracing::info!("start-up complete: database reached, migrations verified, listeners bound");
    background.spawn();
    health.run(interval, timeout, cancel).await;
}

/// The outbox worker: webhook sender (HTTP, or the log without
/// `WEBHOOK_URL`) behind a circuit breaker, woken by `NOTIFY` when events
/// are written.
pub(super) fn delivery_worker(
    settings: &Settings,
    outbox: Arc<dyn OutboxStore>,
    pool: &database::Pool,
) -> anyhow::Result<OutboxWorker> {
    let webhook = &settings.webhook;
    let sender: Arc<dyn WebhookSender> = match (&webhook.url, &webhook.secret) {
        (Some(url), Some(secret)) => {
            let client = OutboundClient::new(ClientSettings {
                request_timeout: webhook.timeout,
                ..ClientSettings::default()
            })?;
            Arc::new(HttpWebhookSender::new(
                client,
                url.clone(),
                SigningKey::parse(secret)?,
                webhook.timeout,
            ))
        }
        _ => Arc::new(LogWebhookSender),
    };
    let breaker = Arc::new(Breaker::new("webhook", settings.breaker));
    let wake_ups = match (
        &settings.database.listen_url,
        settings.database.transaction_pooler,
    ) {
        (Some(url), _) => Some(PgWakeUps::new(database::listen_pool(
            &settings.database,
            url,
        )?)),
        (None, false) => Some(PgWakeUps::new(pool.clone())),
        (None, true) => {
            tracing::info!(
                "DATABASE_TRANSACTION_POOLER=true and no OUTBOX_LISTEN_URL: the outbox worker polls every OUTBOX_POLL_INTERVAL"
            );
            None
        }
    };
    let worker = DeliveryWorker::new(outbox, sender, Arc::clone(&breaker), settings.outbox.worker);
    let worker = match &wake_ups {
        Some(wake_ups) => worker.with_wake_ups(Arc::new(wake_ups.clone())),
        None => worker,
    };
    Ok(OutboxWorker {
        worker: Arc::new(worker),
        wake_ups,
        breaker,
    })
}

/// One start-up attempt at the database; owns its arguments so the retry
/// loop can call it again.
async fn prepare_database(
    database: config::DatabaseSettings,
    pool: database::Pool,
) -> anyhow::Result<()> {
    if database.migrate_on_start {
        database::migrate(&database).await
    } else {
        database::verify_migrations(&pool).await
    }
}

/// Drains the metrics recorder's histogram buffers even when nobody
/// scrapes.
pub(super) async fn upkeep(metrics: telemetry::metrics::Metrics, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => metrics.upkeep(),
        }
    }
}
