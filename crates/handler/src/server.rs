//! [`Server`]: serves a router on a bound listener until told to stop, then
//! drains in-flight requests within a deadline.

use std::future::{Future, IntoFuture as _};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every in-flight request finished within the deadline.
    Complete,
    /// The deadline passed with requests still in flight; they were cut off.
    CutOff,
}

/// An HTTP server on a bound listener.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// A server for `router` on `listener` (bind port 0 in tests).
    pub const fn new(listener: TcpListener, router: Router) -> Self {
        Self { listener, router }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// When the socket cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting connections
    /// and waits up to `drain_timeout` for in-flight requests.
    ///
    /// axum's graceful shutdown alone waits for every connection with no
    /// limit, so a single slow request or stream could hold the process
    /// forever; here the wait is cut at the deadline.
    ///
    /// # Errors
    /// When accepting connections fails fatally.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        drain_timeout: Duration,
    ) -> io::Result<Drain> {
        let (started_tx, started_rx) = oneshot::channel();
        let signal = async move {
            shutdown.await;
            let _ = started_tx.send(());
        };
        let listener = self.listener.tap_io(|tcp| {
            // Small JSON responses should not wait for Nagle's algorithm.
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, self.router)
            .with_graceful_shutdown(signal)
            .into_future();
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => return result.map(|()| Drain::Complete),
            _ = started_rx => {}
        }
        tracing::info!(timeout = ?drain_timeout, "draining in-flight requests");
        match tokio::time::timeout(drain_timeout, serve).await {
            Ok(result) => result.map(|()| Drain::Complete),
            Err(_) => Ok(Drain::CutOff),
        }
    }
}
