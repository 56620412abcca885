//! The ordered shutdown, from the first signal to the exit: readiness
//! fails, serving goes on for `SHUTDOWN_DELAY`, the listener closes and
//! in-flight requests drain within `SHUTDOWN_TIMEOUT`, background tasks
//! stop, then the admin listener and the pool.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use config::Settings;
use handler::server::Drain;
use repository::database;
use service::health::Health;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Stopped;

/// How long background tasks get to finish their current unit of work
/// once cancelled, beyond the longest such unit (one webhook attempt).
const BACKGROUND_STOP_MARGIN: Duration = Duration::from_secs(2);
/// How long closing the pool may take. A connection whose request was cut
/// off mid-statement is only returned when the statement ends, and the
/// exit must not wait for that: after a cut-off the wait is short.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
const POOL_CLOSE_AFTER_CUT_OFF: Duration = Duration::from_millis(200);

/// What is running when the shutdown begins.
pub(super) struct Running<'a> {
    pub(super) settings: &'a Settings,
    pub(super) health: &'a Arc<Health>,
    /// The public server's task; it ends when the drain does.
    pub(super) server: JoinHandle<Drain>,
    pub(super) admin: JoinHandle<Drain>,
    pub(super) pool: database::Pool,
    pub(super) stop_accepting: CancellationToken,
    pub(super) stop_background: CancellationToken,
    pub(super) stop_admin: CancellationToken,
    pub(super) tasks: TaskTracker,
}

/// Stops everything in order, logging each step.
///
/// # Errors
/// When the public server's task panicked.
pub(super) async fn in_order(running: Running<'_>) -> anyhow::Result<Stopped> {
    running.health.begin_shutdown();
    tracing::info!(
        delay = ?running.settings.http.shutdown_delay,
        "shutdown 1/5: readiness fails from now on; 2/5: still serving during SHUTDOWN_DELAY"
    );
    tokio::time::sleep(running.settings.http.shutdown_delay).await;

    tracing::info!(timeout = ?running.settings.http.shutdown_timeout, "shutdown 3/5: no new connections; draining");
    running.stop_accepting.cancel();
    let drain = running
        .server
        .await
        .context("the HTTP server task failed")?;
    match drain {
        Drain::Complete => tracing::info!("shutdown 3/5: every in-flight request finished"),
        Drain::CutOff { connections } => tracing::error!(
            connections,
            timeout = ?running.settings.http.shutdown_timeout,
            "shutdown 3/5: SHUTDOWN_TIMEOUT passed; connections with requests still in flight were cut off"
        ),
    }

    tracing::info!("shutdown 4/5: stopping background tasks");
    running.stop_background.cancel();
    running.tasks.close();
    let background_timeout = running.settings.webhook.timeout + BACKGROUND_STOP_MARGIN;
    let background_finished = tokio::time::timeout(background_timeout, running.tasks.wait())
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

    running.stop_admin.cancel();
    let _ = running.admin.await;
    let close_timeout = if drain == Drain::Complete {
        POOL_CLOSE_TIMEOUT
    } else {
        POOL_CLOSE_AFTER_CUT_OFF
    };
    if tokio::time::timeout(close_timeout, running.pool.close())
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
