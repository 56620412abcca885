//! The composition root: the one place that builds concrete types and wires
//! them together by constructor injection.
//!
//! # Layout
//! - [`startup`]: [`Application`](startup::Application), which a test can
//!   build on port 0 and stop with a future.
//! - [`cli`]: the command line (`serve`, the default, and `migrate`).
//! - [`telemetry`]: the log subscriber.
//! - [`env`]: reading settings from the environment and a `.env` file.

pub mod cli;
pub mod env;
pub mod startup;
pub mod telemetry;
