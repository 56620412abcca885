//! Building the application, and running it from start-up to an ordered
//! shutdown.

mod auth;
mod background;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use config::Settings;
use handler::admin::AdminState;
use handler::server::{Drain, Server};
use handler::{AppState, CorsPolicy, HttpLimits};
use repository::cache::RedisUserCache;
use repository::database::{self, PostgresCheck};
use repository::idempotency::PgIdempotencyStore;
use repository::outbox::PgOutboxStore;
use repository::redis::RedisCache;
use repository::users::PgUserStore;
use service::auth::KeyCache;
use service::cache::CacheGuard;
use service::health::{DependencyCheck, Health};
use service::outbox::OutboxStore;
use service::users::{UserCache, UserService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::background::{
    BackgroundWork, OutboxWorker, cache_guard, delivery_worker, start_up, upkeep,
};
use crate::cli::{Cli, Command};
use crate::telemetry::{self, Telemetry};

/// How long background tasks get to finish their current unit of work
/// once cancelled, beyond the longest such unit (one webhook attempt).
const BACKGROUND_STOP_MARGIN: Duration = Duration::from_secs(2);
/// How long closing the pool may take. A connection whose request was cut
/// off mid-statement is only returned when the statement ends, and the
/// exit must not wait for that: after a cut-off the wait is short.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
const POOL_CLOSE_AFTER_CUT_OFF: Duration = Duration::from_millis(200);
/// How long the span exporter gets to flush at exit.
const TELEMETRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The wired application, bound to its listeners but not yet serving.
#[derive(Debug)]
pub struct Application {
    server: Server,
    admin: Server,
    pool: database::Pool,
    health: Arc<Health>,
    settings: Settings,
    metrics: telemetry::metrics::Metrics,
    worker: Option<OutboxWorker>,
    cache_guard: Option<Arc<CacheGuard>>,
    keys: Option<Arc<KeyCache>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Whether in-flight requests finished within `SHUTDOWN_TIMEOUT`.
    pub drain: Drain,
    /// Whether background tasks finished their current work in time.
    pub background_finished: bool,
}

impl Stopped {
    /// Whether everything finished within its deadline (exit code 0).
    pub fn is_clean(&self) -> bool {
        self.drain == Drain::Complete && self.background_finished
    }
}

impl Application {
    /// Binds `HTTP_ADDR` and `ADMIN_ADDR` and wires everything.
    ///
    /// # Errors
    /// When an address cannot be bound or a URL does not parse.
    pub async fn build(settings: Settings, telemetry: &Telemetry) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR {}", settings.http_addr))?;
        let admin = TcpListener::bind(settings.admin.addr)
            .await
            .with_context(|| format!("binding ADMIN_ADDR {}", settings.admin.addr))?;
        Self::with_listeners(settings, listener, admin, telemetry)
    }

    /// Wires everything around already bound listeners (port 0 in tests).
    /// No connection is made here: PostgreSQL and Redis are reached by the
    /// start-up task, so the probes answer while they are down.
    ///
    /// # Errors
    /// When a URL does not parse.
    pub fn with_listeners(
        settings: Settings,
        listener: TcpListener,
        admin_listener: TcpListener,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Self> {
        let pool = database::pool(&settings.database)?;
        let store = Arc::new(PgUserStore::new(pool.clone()));
        let mut checks: Vec<Arc<dyn DependencyCheck>> = vec![Arc::new(PostgresCheck::new(
            &settings.database,
            settings.health.timeout,
        )?)];
        let mut breakers = Vec::new();
        let cache = match &settings.cache {
            None => None,
            Some(c) => {
                let redis = RedisCache::new(c)?;
                checks.push(Arc::new(redis.check()));
                let guard = Arc::new(cache_guard(c, Arc::new(redis.clone())));
                breakers.push(guard.breaker());
                let cache: Arc<dyn UserCache> = Arc::new(RedisUserCache::new(redis));
                Some((cache, guard))
            }
        };
        let cache_guard = cache.as_ref().map(|(_, guard)| Arc::clone(guard));
        let outbox: Arc<dyn OutboxStore> = Arc::new(PgOutboxStore::new(pool.clone()));
        let worker = settings
            .outbox
            .worker_enabled
            .then(|| delivery_worker(&settings, Arc::clone(&outbox), &pool))
            .transpose()?;
        if let Some(worker) = &worker {
            breakers.push(worker.breaker());
        }
        let health = Arc::new(
            Health::new(checks)
                .with_thresholds(
                    settings.health.failure_threshold,
                    settings.health.success_threshold,
                )
                .with_breakers(breakers),
        );
        let users =
            Arc::new(UserService::new(store, cache).with_idempotency_ttl(settings.idempotency.ttl));
        let (auth, keys) = auth::wire(settings.auth.as_ref(), listener.local_addr()?)?;
        let router = handler::router(
            AppState {
                users,
                health: Arc::clone(&health),
                auth,
            },
            HttpLimits {
                request_timeout: settings.http.request_timeout,
                request_body_limit: settings.http.request_body_limit,
                max_concurrent_requests: settings.http.max_concurrent_requests,
            },
            &CorsPolicy {
                allowed_origins: settings.cors.allowed_origins.clone(),
            },
        );
        let sampled_pool = pool.clone();
        let admin_router = handler::admin_router(AdminState {
            metrics: telemetry
                .metrics
                .renderer(move || database::record_pool_metrics(&sampled_pool)),
            log_level: Arc::clone(&telemetry.log_level) as Arc<dyn handler::admin::LogLevel>,
            outbox,
            token: settings.admin.token.clone(),
        });
        let header_timeout = settings.http.header_read_timeout;
        Ok(Self {
            server: Server::new(listener, router, header_timeout),
            admin: Server::new(admin_listener, admin_router, header_timeout),
            pool,
            health,
            settings,
            metrics: telemetry.metrics.clone(),
            worker,
            cache_guard,
            keys,
        })
    }

    /// The address of the public listener.
    ///
    /// # Errors
    /// When the socket cannot report it.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .local_addr()
            .context("reading the listener's address")
    }

    /// The address of the admin listener.
    ///
    /// # Errors
    /// When the socket cannot report it.
    pub fn admin_addr(&self) -> anyhow::Result<SocketAddr> {
        self.admin
            .local_addr()
            .context("reading the admin listener's address")
    }

    /// Serves, finishes start-up in the background, and when `shutdown`
    /// resolves, stops in order:
    ///
    /// 1. readiness fails at once (liveness stays `200`);
    /// 2. requests are still served for `SHUTDOWN_DELAY`, so load balancers
    ///    stop routing here first;
    /// 3. the listener closes and in-flight requests get `SHUTDOWN_TIMEOUT`
    ///    to finish; what outlives it is cut off;
    /// 4. background tasks (the outbox worker, the health checks) are
    ///    cancelled and awaited: the worker stops claiming and finishes the
    ///    delivery in hand;
    /// 5. the admin listener stops and the pool is closed. (Telemetry is
    ///    flushed by the caller, which owns it.)
    ///
    /// # Errors
    /// When a server task panicked.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<Stopped> {
        let Self {
            server,
            admin,
            pool,
            health,
            settings,
            metrics,
            worker,
            cache_guard,
            keys,
        } = self;
        tracing::info!(
            addr = %server.local_addr()?,
            admin_addr = %admin.local_addr()?,
            version = telemetry::VERSION,
            git_sha = telemetry::GIT_SHA,
            "serving; start-up continues in the background"
        );

        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(start_up(
            settings.clone(),
            pool.clone(),
            Arc::clone(&health),
            BackgroundWork {
                worker,
                idempotency: Arc::new(PgIdempotencyStore::new(pool.clone())),
                tasks: tasks.clone(),
                cancel: cancel.clone(),
            },
        ));
        tasks.spawn(upkeep(metrics, cancel.clone()));
        if let Some(guard) = cache_guard {
            let cancel = cancel.clone();
            tasks.spawn(async move { guard.repair(cancel).await });
        }
        // Never awaited by start-up: tokens get 503 until the keys arrive.
        if let Some(keys) = keys {
            let cancel = cancel.clone();
            tasks.spawn(async move { keys.run(cancel).await });
        }

        let stop_admin = CancellationToken::new();
        let admin =
            tokio::spawn(admin.run(stop_admin.clone().cancelled_owned(), Duration::from_secs(1)));
        let stop_accepting = CancellationToken::new();
        let server = tokio::spawn(server.run(
            stop_accepting.clone().cancelled_owned(),
            settings.http.shutdown_timeout,
        ));

        shutdown.await;
        health.begin_shutdown();
        tracing::info!(
            delay = ?settings.http.shutdown_delay,
            "shutdown 1/5: readiness fails from now on; 2/5: still serving during SHUTDOWN_DELAY"
        );
        tokio::time::sleep(settings.http.shutdown_delay).await;

        tracing::info!(timeout = ?settings.http.shutdown_timeout, "shutdown 3/5: no new connections; draining");
        stop_accepting.cancel();
        let drain = server.await.context("the HTTP server task failed")?;
        match drain {
            Drain::Complete => tracing::info!("shutdown 3/5: every in-flight request finished"),
            Drain::CutOff { connections } => tracing::error!(
                connections,
                timeout = ?settings.http.shutdown_timeout,
                "shutdown 3/5: SHUTDOWN_TIMEOUT passed; connections with requests still in flight were cut off"
            ),
        }

        tracing::info!("shutdown 4/5: stopping background tasks");
        cancel.cancel();
        tasks.close();
        let background_timeout = settings.webhook.timeout + BACKGROUND_STOP_MARGIN;
        let background_finished = tokio::time::timeout(background_timeout, tasks.wait())
            .await
            .is_ok();
        if background_finished {
            tracing::info!("shutdown 4/5: background tasks stopped");
        } else {
            tracing::error!(
                timeout = ?background_timeout,
                "shutdown 4/5: background tasks did not stop in time and were abandoned"
            );
        }

        stop_admin.cancel();
        let _ = admin.await;
        let close_timeout = if drain == Drain::Complete {
            POOL_CLOSE_TIMEOUT
        } else {
            POOL_CLOSE_AFTER_CUT_OFF
        };
        if tokio::time::timeout(close_timeout, pool.close())
            .await
            .is_ok()
        {
            tracing::info!("shutdown 5/5: admin listener stopped, database pool closed");
        } else {
            tracing::warn!(
                timeout = ?close_timeout,
                "shutdown 5/5: admin listener stopped; database connections still busy were abandoned"
            );
        }
        Ok(Stopped {
            drain,
            background_finished,
        })
    }
}

/// Runs the command line: the whole program behind `main`.
///
/// # Errors
/// Bad settings, a failed migration, or a fatal serving error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = crate::env::load()?;
    let telemetry = Telemetry::init(&settings)?;
    let code = match cli.subcommand() {
        Command::Migrate => {
            database::migrate(&settings.database).await?;
            ExitCode::SUCCESS
        }
        Command::Serve => {
            let app = Application::build(settings, &telemetry).await?;
            let stopped = app.run_until_stopped(shutdown_signal()).await?;
            if stopped.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    };
    if telemetry.flush(TELEMETRY_FLUSH_TIMEOUT) {
        tracing::info!("telemetry flushed; exiting");
    } else {
        tracing::warn!(timeout = ?TELEMETRY_FLUSH_TIMEOUT, "spans were left unexported at exit");
    }
    Ok(code)
}

/// Resolves on the first SIGINT or SIGTERM, and arms a second one to exit
/// at once with status 1.
async fn shutdown_signal() {
    let name = next_signal().await;
    tracing::info!(
        signal = name,
        "shutdown requested; a second signal exits at once"
    );
    tokio::spawn(async {
        let name = next_signal().await;
        tracing::error!(signal = name, "second signal: exiting at once");
        std::process::exit(1);
    });
}

/// Waits for SIGINT or SIGTERM and names it.
async fn next_signal() -> &'static str {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    }
}
