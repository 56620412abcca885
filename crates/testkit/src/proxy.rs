//! [`FaultProxy`]: a TCP proxy whose behaviour a test switches at runtime.
//!
//! It sits between a process and one of its dependencies (PostgreSQL,
//! Redis, an HTTP receiver, a gRPC collector) and plays the network faults
//! that cannot be made here with `netem` or iptables:
//!
//! - [`Mode::Pass`] forwards bytes both ways.
//! - [`Mode::Refuse`] resets every connection: new ones as soon as they are
//!   accepted, existing ones at once (`SO_LINGER` 0, so the peer sees a
//!   reset rather than an orderly close).
//! - [`Mode::BlackHole`] keeps every connection open and moves no byte:
//!   new connections are accepted and never connected upstream, existing
//!   ones stop forwarding. Bytes already read are held, not dropped, and
//!   flow again when the mode returns to `Pass`, as TCP retransmission
//!   delivers them after a real partition heals.
//!
//! Dropping the proxy closes its listener and every connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Reset every connection, new and existing.
    Refuse,
    /// Accept, hold, never answer, never close.
    BlackHole,
}

impl Mode {
    /// A short name for reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Refuse => "refuse",
            Self::BlackHole => "black hole",
        }
    }
}

/// Connections seen by a proxy.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    reset: AtomicU64,
}

/// A TCP proxy on a loopback port in front of `upstream`.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream`, in
    /// [`Mode::Pass`].
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = watch::Sender::new(Mode::Pass);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept(
            listener,
            upstream,
            mode.subscribe(),
            Arc::clone(&counters),
        ));
        Ok(Self {
            addr,
            upstream,
            mode,
            counters,
            task,
        })
    }

    /// Where clients connect.
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy forwards to.
    pub const fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Switches the mode; existing connections follow at once.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Connections reset so far (refused when new, or cut).
    pub fn reset(&self) -> u64 {
        self.counters.reset.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping `mode` ends every connection task; this ends the accepts.
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors or a reset before accept: try again
            // shortly rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_nodelay(true);
        tokio::spawn(connection(
            client,
            upstream,
            mode.clone(),
            Arc::clone(&counters),
        ));
    }
}

/// Resets a connection: `SO_LINGER` 0, then close, so the peer reads
/// `ECONNRESET` instead of an orderly end of stream.
fn reset(stream: TcpStream, counters: &Counters) {
    counters.reset.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Waits until the mode lets bytes through. `false` when the connection
/// must be reset (the mode is `Refuse`, or the proxy is gone).
async fn open(mode: &mut watch::Receiver<Mode>) -> bool {
    match mode.wait_for(|m| *m != Mode::BlackHole).await {
        Ok(m) => *m == Mode::Pass,
        Err(_) => false,
    }
}

/// Resolves when the connection must be reset.
async fn refused(mode: &mut watch::Receiver<Mode>) {
    let _ = mode.wait_for(|m| *m == Mode::Refuse).await;
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    counters: Arc<Counters>,
) {
    // A new connection in a black hole waits here, accepted but never
    // connected upstream; its bytes stay in the socket until it opens.
    if !open(&mut mode).await {
        return reset(client, &counters);
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return reset(client, &counters);
    };
    let _ = server.set_nodelay(true);
    let ended = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = pump(client_read, server_write, mode.clone());
        let down = pump(server_read, client_write, mode.clone());
        tokio::pin!(up, down);
        // An orderly end of one direction lets the other finish; a reset,
        // an error or `Refuse` ends both.
        tokio::select! {
            end = &mut up => if end == End::Eof { down.await } else { end },
            end = &mut down => if end == End::Eof { up.await } else { end },
        }
    };
    if ended == End::Eof {
        return;
    }
    reset(client, &counters);
    let _ = server.set_zero_linger();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The source closed in order; the end was passed on.
    Eof,
    /// A socket error, or the mode turned to `Refuse`.
    Reset,
}

/// Copies `from` to `to` while the mode allows, holding what was read
/// while it does not.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    mut mode: watch::Receiver<Mode>,
) -> End {
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        if !open(&mut mode).await {
            return End::Reset;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            // A mode change interrupts the read (reads are cancel-safe) so
            // that a black hole stops the flow at once.
            changed = mode.changed() => {
                if changed.is_err() {
                    return End::Reset;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) => {
                let _ = to.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Reset,
        };
        // Bytes in hand: a black hole that began meanwhile holds them.
        if !open(&mut mode).await {
            return End::Reset;
        }
        let wrote = tokio::select! {
            wrote = to.write_all(&buf[..n]) => wrote,
            () = refused(&mut mode) => return End::Reset,
        };
        if wrote.is_err() {
            return End::Reset;
        }
    }
}

#[cfg(test)]
mod tests;
