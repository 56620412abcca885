//! Building and running the application.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use config::Settings;
use handler::server::{Drain, Server};
use handler::{AppState, HttpLimits};
use repository::cache::RedisUserCache;
use repository::database;
use repository::users::PgUserStore;
use service::users::{CachePolicy, UserCache, UserService};
use tokio::net::TcpListener;

use crate::cli::{Cli, Command};

/// The wired application, bound to its listener but not yet serving.
#[derive(Debug)]
pub struct Application {
    server: Server,
    pool: database::Pool,
    settings: Settings,
}

impl Application {
    /// Binds `settings.http_addr` and wires everything.
    ///
    /// # Errors
    /// When the address cannot be bound or a URL does not parse.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR {}", settings.http_addr))?;
        Self::with_listener(settings, listener)
    }

    /// Wires everything around an already bound listener (port 0 in tests).
    /// No connection is made here: PostgreSQL and Redis are reached on first
    /// use, so the service starts while they are down.
    ///
    /// # Errors
    /// When a URL does not parse.
    pub fn with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let pool = database::pool(&settings.database)?;
        let store = Arc::new(PgUserStore::new(pool.clone()));
        let cache = settings
            .cache
            .as_ref()
            .map(|c| -> anyhow::Result<_> {
                let cache: Arc<dyn UserCache> = Arc::new(RedisUserCache::new(c)?);
                let policy = CachePolicy {
                    ttl: c.ttl,
                    timeout: c.timeout,
                };
                Ok((cache, policy))
            })
            .transpose()?;
        let users = Arc::new(UserService::new(store, cache));
        let router = handler::router(
            AppState { users },
            HttpLimits {
                request_timeout: settings.http.request_timeout,
                request_body_limit: settings.http.request_body_limit,
            },
        );
        Ok(Self {
            server: Server::new(listener, router),
            pool,
            settings,
        })
    }

    /// The address the public listener is bound to.
    ///
    /// # Errors
    /// When the socket cannot report it.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .local_addr()
            .context("reading the listener's address")
    }

    /// Serves until `shutdown` resolves, drains within `SHUTDOWN_TIMEOUT`,
    /// then closes the pool.
    ///
    /// # Errors
    /// When serving fails fatally.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Drain> {
        let addr = self.local_addr()?;
        tracing::info!(%addr, version = env!("CARGO_PKG_VERSION"), "serving");
        let drain = self
            .server
            .run(shutdown, self.settings.http.shutdown_timeout)
            .await
            .context("serving HTTP")?;
        match drain {
            Drain::Complete => tracing::info!("all in-flight requests finished"),
            Drain::CutOff => tracing::error!(
                timeout = ?self.settings.http.shutdown_timeout,
                "shutdown deadline passed; in-flight requests were cut off"
            ),
        }
        self.pool.close().await;
        tracing::info!("database pool closed");
        Ok(drain)
    }
}

/// Runs the command line: the whole program behind `main`.
///
/// # Errors
/// Bad settings, a failed migration, or a fatal serving error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = crate::env::load()?;
    crate::telemetry::init(&settings.log_level)?;
    match cli.subcommand() {
        Command::Migrate => {
            database::migrate(&settings.database).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            if settings.database.migrate_on_start {
                database::migrate(&settings.database).await?;
            }
            let app = Application::build(settings).await?;
            match app.run_until_stopped(shutdown_signal()).await? {
                Drain::Complete => Ok(ExitCode::SUCCESS),
                Drain::CutOff => Ok(ExitCode::FAILURE),
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}
