//! Test support, shared by the workspace's integration tests and never
//! linked into the service: real sockets and real processes to break a
//! running service on purpose and measure how it copes.
//!
//! # Layout
//!
//! - [`proxy`]: [`FaultProxy`], a TCP proxy placed between a process and
//!   one of its dependencies, switched at runtime between passing traffic,
//!   refusing every connection (new and existing), and a black hole that
//!   accepts and never answers.
//! - [`load`]: [`Load`], concurrent HTTP clients bounded in time and in
//!   count, recording one [`Sample`] per request.
//! - [`stats`]: [`PhaseStats`], what a set of samples says (statuses, 5xx,
//!   503s without `Retry-After`, latency percentiles, throughput), and a
//!   Markdown [`Table`].
//! - [`process`]: [`Process`], a child process with its output in a file,
//!   signalled by name, and killed when dropped, also on panic.
//! - [`database`]: [`Database`], a PostgreSQL database of its own, dropped
//!   with the value.
//! - [`http`]: polling an URL for a status, free loopback ports, reading a
//!   Prometheus series.
//!
//! Everything listens and connects on loopback only.

pub mod database;
pub mod http;
pub mod load;
pub mod process;
pub mod proxy;
pub mod stats;

pub use self::database::Database;
pub use self::load::{Failure, Load, Sample};
pub use self::process::{Process, ProcessBuilder};
pub use self::proxy::{FaultProxy, Mode};
pub use self::stats::{PhaseStats, Table};
