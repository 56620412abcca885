//! [`Application`]: the wired service, run from start-up to an ordered
//! shutdown.
//!
//! - `wiring`: builds every concrete type and injects it (the composition
//!   root proper);
//! - `background`: start-up and the workers it starts once finished;
//! - `shutdown`: the five steps from the first signal to the exit;
//! - `signals`: SIGINT and SIGTERM;
//! - `auth`: the token verifier and its key refresh, or an open API.

mod auth;
mod background;
mod shutdown;
pub(crate) mod signals;
mod wiring;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use config::Settings;
use handler::server::{Drain, Server};
use repository::database;
use repository::idempotency::PgIdempotencyStore;
use service::auth::KeyCache;
use service::cache::CacheGuard;
use service::health::Health;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::background::{BackgroundWork, OutboxWorker, start_up, upkeep};
use self::shutdown::Running;
use crate::telemetry::{self, Telemetry};

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
        wiring::wire(settings, listener, admin_listener, telemetry)
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

        // One root: every task and listener stops on a child of it, in
        // the order of the shutdown sequence, and all of them at once if
        // this future is dropped before it ends.
        let root = CancellationToken::new();
        let _stop_everything_if_dropped = root.clone().drop_guard();
        let stop_background = root.child_token();
        let stop_accepting = root.child_token();
        let stop_admin = root.child_token();

        let tasks = TaskTracker::new();
        tasks.spawn(start_up(
            settings.clone(),
            pool.clone(),
            Arc::clone(&health),
            BackgroundWork {
                worker,
                idempotency: Arc::new(PgIdempotencyStore::new(pool.clone())),
                tasks: tasks.clone(),
                cancel: stop_background.clone(),
            },
        ));
        tasks.spawn(upkeep(metrics, stop_background.clone()));
        if let Some(guard) = cache_guard {
            let cancel = stop_background.clone();
            tasks.spawn(async move { guard.repair(cancel).await });
        }
        // Never awaited by start-up: tokens get 503 until the keys arrive.
        if let Some(keys) = keys {
            let cancel = stop_background.clone();
            tasks.spawn(async move { keys.run(cancel).await });
        }

        let admin =
            tokio::spawn(admin.run(stop_admin.clone().cancelled_owned(), Duration::from_secs(1)));
        let server = tokio::spawn(server.run(
            stop_accepting.clone().cancelled_owned(),
            settings.http.shutdown_timeout,
        ));

        shutdown.await;
        shutdown::in_order(Running {
            settings: &settings,
            health: &health,
            server,
            admin,
            pool,
            stop_accepting,
            stop_background,
            stop_admin,
            tasks,
        })
        .await
    }
}
