//! The fault suite behind `make faults`: the release binary under
//! concurrent load while its dependencies fail in turn, each behind a
//! [`testkit::FaultProxy`] or played by a real server started here.
//!
//! Every scenario runs phases of load, switching faults between them, and
//! prints one table row per phase (requests, statuses, 5xx, 503s without
//! `Retry-After`, p99 and slowest latency, throughput, recovery after a
//! heal), then checks its promises. The tables and the checks are also
//! written to `target/faults/report.md`. A failed promise fails the
//! scenario after its report is written, so every scenario reports.
//!
//! `BULKHEAD_BIN` names the binary (`make faults` builds it with
//! `--release` and sets it); `FAULTS_DIR` the output folder.
//! `TEST_DATABASE_URL` and `TEST_REDIS_URL` point at the servers, as for
//! the other tests. `make test` leaves this target out (see
//! `.config/nextest.toml`): it needs the release binary and a quiet
//! machine.
//!
//! # Layout
//!
//! - `support`: settings from the environment, the service as a process.
//! - `workload`: the users seeded for a scenario and the load mix.
//! - `phases`: running a phase, measuring recovery, the phase table.
//! - `report`: promises checked, and the report files.
//! - `receivers`: a real webhook receiver and a real OTLP/gRPC collector.
//! - one module per scenario: `postgres`, `cache` (Redis), `outbound`,
//!   `replicas`, `sigterm`.

// Test code: a failed setup step fails the scenario loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The suite's output is its printed tables.
#![allow(clippy::print_stdout)]
// Items are `pub` for the sibling modules of this one test binary.
#![allow(unreachable_pub)]

mod phases;
mod receivers;
mod report;
mod support;
mod workload;

mod cache;
mod outbound;
mod postgres;
mod replicas;
mod sigterm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refused_then_black_holed() {
    postgres::scenario().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refused_black_holed_and_refusing_invalidations() {
    cache::scenario().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_collector_failures() {
    outbound::scenario().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed() {
    replicas::scenario().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load() {
    sigterm::scenario().await;
}
