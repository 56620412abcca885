//! [`Server`]: serves a router on a bound listener until told to stop, then
//! drains in-flight requests within a deadline.
//!
//! Built on hyper directly rather than `axum::serve` for two controls that
//! `axum::serve` does not offer: an HTTP/1 header read timeout (a slow or
//! idle client cannot hold a connection forever) and a drain that ends at a
//! deadline (axum's graceful shutdown waits for every connection without
//! limit).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// After the listener closes, how long connections get to end by
/// themselves (each closes after its next answer) before the graceful
/// shutdown closes those still idle.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every connection finished within the deadline.
    Complete,
    /// The deadline passed; this many connections were cut off.
    CutOff {
        /// Connections still open at the deadline.
        connections: usize,
    },
}

/// An HTTP/1 server on a bound listener.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
}

impl Server {
    /// A server for `router` on `listener` (bind port 0 in tests). A client
    /// gets `header_read_timeout` to send each request's headers, which also
    /// bounds how long an idle keep-alive connection stays open.
    pub const fn new(listener: TcpListener, router: Router, header_read_timeout: Duration) -> Self {
        Self {
            listener,
            router,
            header_read_timeout,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// When the socket cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop_accepting` resolves, then closes the listener (new
    /// connections are refused), asks open connections to finish their
    /// current request, and waits up to `drain_timeout` for them. Whatever
    /// is still open then is cut off.
    pub async fn run(
        self,
        stop_accepting: impl Future<Output = ()> + Send,
        drain_timeout: Duration,
    ) -> Drain {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true);
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        tokio::pin!(stop_accepting);

        loop {
            // Reap finished connections so the set stays small.
            while connections.try_join_next().is_some() {}
            let accepted = tokio::select! {
                () = &mut stop_accepting => break,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Per-connection failures (reset before accept) and
                    // resource exhaustion (EMFILE) are transient: back off
                    // briefly instead of spinning or exiting.
                    tracing::warn!(error = %format_args!("{:#}", anyhow::Error::from(err)), "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
            let service = TowerToHyperService::new(self.router.clone());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            connections.spawn(async move {
                if let Err(err) = connection.await {
                    // Timeouts and resets by clients are routine.
                    tracing::debug!(error = %format_args!("{:#}", anyhow::Error::from(err)), "connection ended with an error");
                }
            });
        }

        // Connections the kernel completed but nobody accepted yet would be
        // reset with the listener: a client that already sent its request
        // on one would see it fail. Take them all, then close.
        let mut backlog = 0_usize;
        // A zero timeout polls the accept once: ready now, or done.
        while let Ok(accepted) = tokio::time::timeout(Duration::ZERO, self.listener.accept()).await
        {
            let Ok((stream, _)) = accepted else { break };
            let service = TowerToHyperService::new(self.router.clone());
            let connection =
                graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            connections.spawn(async move {
                let _ = connection.await;
            });
            backlog += 1;
        }
        drop(self.listener);
        let deadline = tokio::time::Instant::now() + drain_timeout;
        tracing::info!(
            backlog,
            open_connections = graceful.count(),
            timeout = ?drain_timeout,
            "stopped accepting connections; draining"
        );
        // A graceful shutdown closes every connection that is between
        // requests, and a client may be sending one on it at that very
        // moment. Every answer now says `Connection: close`, so the busy
        // connections go away by themselves after their next answer: wait
        // for that first (bounded), then close what is still idle.
        let quiet = async {
            while graceful.count() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(IDLE_GRACE.min(drain_timeout), quiet).await;
        let drained = tokio::time::timeout_at(deadline, graceful.shutdown()).await;
        while connections.try_join_next().is_some() {}
        let open = connections.len();
        connections.abort_all();
        match drained {
            Ok(()) => Drain::Complete,
            Err(_) => Drain::CutOff { connections: open },
        }
    }
}
