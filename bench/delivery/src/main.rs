//! The outbox half of `make bench`: how long an event takes from the
//! client's `201` to the webhook, and how many deliveries per second two
//! replicas sharing one table sustain.
//!
//! One process is both the API client and the webhook receiver, so every
//! time is read from one clock. It starts the release service itself (on
//! loopback, pinned with `taskset` when `BENCH_SERVER_CPUS` is set), runs
//! two phases and prints a Markdown section for `target/bench/report.md`
//! on stdout (progress goes to stderr):
//!
//! 1. latency: one replica; `BENCH_CREATES` sequential `POST /api/v1/users`,
//!    each waiting for its `user.created` before the next;
//! 2. throughput: `BENCH_EVENTS` pending events written straight into
//!    `outbox_events`, then `BENCH_REPLICAS` replicas started at once; the
//!    clock runs from their start until every `webhook-id` arrived.
//!
//! It exits non-zero when an event is missing, repeated or badly signed.
//! Service processes are killed when the driver exits, fails or is
//! interrupted.

// A command-line benchmark: it reports on stdout and stderr, and a broken
// lock or an impossible conversion should stop it loudly.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

mod phases;
mod receiver;
mod replicas;

use std::time::Duration;

use crate::phases::{Latency, Throughput};
use crate::receiver::Receiver;

/// The signing secret the bench service is given.
const SECRET: &str = "whsec_dGVzdC1zaWduaW5nLXNlY3JldC0wMTIzNDU2Nzg5";

/// What to run, from the environment (`bench/run.sh` sets them).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The release binary.
    pub(crate) service_bin: String,
    /// PostgreSQL server URL without a database.
    pub(crate) pg_server: String,
    /// The database the bench drops and recreates.
    pub(crate) database: String,
    /// Sequential creates in the latency phase.
    pub(crate) creates: usize,
    /// Pending events in the throughput phase.
    pub(crate) events: usize,
    /// Replicas in the throughput phase.
    pub(crate) replicas: u16,
    /// Where the receiver listens.
    pub(crate) receiver_addr: String,
    /// Replica `i` serves on `first_port + 2i` (admin on the next port).
    pub(crate) first_port: u16,
    /// `taskset -c` list for the services; unpinned when `None`.
    pub(crate) server_cpus: Option<String>,
    /// The `whsec_` signing secret.
    pub(crate) secret: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Ok(Self {
            service_bin: var("BENCH_SERVICE_BIN", "target/release/bulkhead"),
            pg_server: var("PG_SERVER", "postgres://postgres@127.0.0.1:5432"),
            database: var("BENCH_DELIVERY_DATABASE", "bulkhead_bench_delivery"),
            creates: var("BENCH_CREATES", "200").parse()?,
            events: var("BENCH_EVENTS", "10000").parse()?,
            replicas: var("BENCH_REPLICAS", "2").parse()?,
            receiver_addr: var("BENCH_RECEIVER_ADDR", "127.0.0.1:18082"),
            first_port: var("BENCH_FIRST_PORT", "18180").parse()?,
            server_cpus: std::env::var("BENCH_SERVER_CPUS")
                .ok()
                .filter(|v| !v.is_empty()),
            secret: SECRET.to_owned(),
        })
    }

    /// The bench database's URL.
    pub(crate) fn database_url(&self) -> String {
        format!("{}/{}", self.pg_server, self.database)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    // Dropping `run` on a signal drops the replicas it holds: they are
    // killed before the driver exits.
    let outcome = tokio::select! {
        outcome = run() => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated")),
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("delivery bench failed: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs both phases and prints the report; `false` when deliveries were
/// missing, repeated or badly signed.
async fn run() -> anyhow::Result<bool> {
    let settings = Settings::from_env()?;
    let receiver = Receiver::start(&settings.receiver_addr, &settings.secret).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    phases::recreate_database(&settings).await?;

    eprintln!(
        "delivery latency: {} sequential creates, one replica",
        settings.creates
    );
    let latency = phases::latency(&settings, &client, &receiver).await?;
    eprintln!(
        "delivery throughput: {} pending events, {} replicas",
        settings.events, settings.replicas
    );
    let throughput = phases::throughput(&settings, &client, &receiver).await?;
    print_report(&settings, &latency, &throughput);
    Ok(latency.missed == 0 && throughput.is_clean())
}

fn print_report(settings: &Settings, latency: &Latency, throughput: &Throughput) {
    let pinning = match &settings.server_cpus {
        Some(cpus) => format!("services on CPU {cpus}, driver on the other"),
        None => "unpinned".to_owned(),
    };
    // The replicas inherit the environment: name what was changed.
    let mut changed: Vec<String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("OUTBOX_") || name.starts_with("DATABASE_MAX"))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    changed.sort();
    let worker = if changed.is_empty() {
        "default worker settings".to_owned()
    } else {
        changed.join(", ")
    };
    let ms = |v: f64| format!("{v:.1}");
    println!();
    println!("## Outbox delivery ({worker}, {pinning})");
    println!();
    println!("| Run | Result |");
    println!("|---|---:|");
    println!(
        "| `201` of POST /api/v1/users → its `user.created` received, median ({} sequential creates, 1 replica) | {} ms |",
        latency.samples.len(),
        ms(latency.median)
    );
    println!("| same, p99 | {} ms |", ms(latency.p99));
    println!("| same, max | {} ms |", ms(latency.max));
    println!(
        "| POST /api/v1/users round trip, median | {} ms |",
        ms(latency.request_median)
    );
    println!(
        "| deliveries/s, {} replicas, {} pending events, from start-up to the last | {:.0} |",
        settings.replicas, settings.events, throughput.from_start
    );
    println!(
        "| deliveries/s, first to last delivery | {:.0} |",
        throughput.first_to_last
    );
    println!(
        "| duplicates / bad signatures / missing | {} / {} / {} |",
        throughput.counts.duplicates(),
        throughput.counts.bad_signatures,
        throughput.missing()
    );
    println!();
    println!(
        "- The worker is woken by NOTIFY at commit, so a webhook can arrive before the client has its `201` (a negative sample): {} of {} here.",
        latency.before_answer,
        latency.samples.len()
    );
    println!(
        "- Median `201` → webhook **{} ms** (aim: at most 50 ms){}.",
        ms(latency.median),
        if latency.missed > 0 {
            format!("; {} creates not delivered within 5 s", latency.missed)
        } else {
            String::new()
        }
    );
    println!(
        "- **{:.0} deliveries/s** with {} replicas (aim: at least 1,000), {} duplicates.",
        throughput.from_start,
        settings.replicas,
        throughput.counts.duplicates()
    );
}
