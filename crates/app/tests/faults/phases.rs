//! Phases of load: each runs the load for a while under one fault (the
//! fault is switched just before), may measure the recovery after a heal
//! at the same time, and becomes one row of the scenario's table.

use std::future::Future;
use std::time::{Duration, Instant};

use testkit::stats::{ms, per_second};
use testkit::{Load, PhaseStats, Sample, Table};

use crate::support::Service;
use crate::workload::{self, MAX_REQUESTS_PER_PHASE, READ};

/// How long each phase keeps the load on.
pub const PHASE: Duration = Duration::from_millis(2500);
/// Longest wait for a recovery before it is reported as missing.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(10);

/// How long after a heal the service was itself again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovery {
    /// Until a write (a create) succeeded.
    pub write: Option<Duration>,
    /// Until `/readyz` answered `200`.
    pub ready: Option<Duration>,
}

impl Recovery {
    /// Both, if both happened: the recovery time.
    pub fn total(self) -> Option<Duration> {
        Some(self.write?.max(self.ready?))
    }

    fn text(self) -> String {
        let part = |d: Option<Duration>| {
            d.map_or_else(
                || format!("> {} s", RECOVERY_LIMIT.as_secs()),
                |d| format!("{:.2} s", d.as_secs_f64()),
            )
        };
        format!("write {}, ready {}", part(self.write), part(self.ready))
    }
}

/// Polls `service` from now on until a create succeeds and `/readyz`
/// answers `200`, each within [`RECOVERY_LIMIT`].
pub async fn recovery(service: &Service) -> Recovery {
    let started = Instant::now();
    let mut recovery = Recovery::default();
    let mut n = 0_u32;
    while started.elapsed() < RECOVERY_LIMIT && recovery.total().is_none() {
        if recovery.write.is_none() {
            n += 1;
            let email = format!("recovery-{}-{n}@example.com", uuid::Uuid::now_v7().simple());
            let created = service
                .client
                .post(service.url("/api/v1/users"))
                .json(&serde_json::json!({ "email": email, "name": "Recovery" }))
                .send()
                .await;
            if created.is_ok_and(|r| r.status() == 201) {
                recovery.write = Some(started.elapsed());
            }
        }
        if recovery.ready.is_none() && service.readiness().await == 200 {
            recovery.ready = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    recovery
}

/// One phase as measured.
#[derive(Debug, Clone)]
pub struct PhaseRecord {
    pub name: String,
    pub fault: String,
    pub samples: Vec<Sample>,
    pub stats: PhaseStats,
    pub recovery: Option<Recovery>,
}

impl PhaseRecord {
    /// Summarises `samples` of a phase that lasted `elapsed`.
    pub fn new(name: &str, fault: &str, samples: Vec<Sample>, elapsed: Duration) -> Self {
        let stats = PhaseStats::new(&samples, elapsed);
        Self {
            name: name.to_owned(),
            fault: fault.to_owned(),
            samples,
            stats,
            recovery: None,
        }
    }

    /// The samples with `label`.
    pub fn labelled(&self, label: &str) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.label == label)
    }

    /// Reads answered `200` per second.
    pub fn reads_per_second(&self) -> f64 {
        per_second(
            self.labelled(READ).filter(|s| s.is(200)).count(),
            self.stats.elapsed,
        )
    }

    /// Writes acknowledged (`201` creates, `200` patches).
    pub fn acknowledged_writes(&self) -> usize {
        self.labelled(workload::CREATE)
            .filter(|s| s.is(201))
            .count()
            + self.labelled(workload::PATCH).filter(|s| s.is(200)).count()
    }
}

/// Runs `load` for [`PHASE`] while `during` runs beside it (a recovery
/// measurement, a fault switched mid-phase, or nothing), and prints the
/// row.
pub async fn run<T>(
    load: &Load,
    name: &str,
    fault: &str,
    during: impl Future<Output = T>,
) -> (PhaseRecord, T) {
    let started = Instant::now();
    let (samples, extra) = tokio::join!(load.run(PHASE, MAX_REQUESTS_PER_PHASE), during);
    let record = PhaseRecord::new(name, fault, samples, started.elapsed());
    println!("{}", row(&record).join(" | "));
    (record, extra)
}

/// A phase with nothing beside the load.
pub async fn plain(load: &Load, name: &str, fault: &str) -> PhaseRecord {
    run(load, name, fault, async {}).await.0
}

/// A phase right after a heal, measuring the recovery of `service`.
pub async fn healing(load: &Load, name: &str, fault: &str, service: &Service) -> PhaseRecord {
    let (mut record, recovery) = run(load, name, fault, recovery(service)).await;
    record.recovery = Some(recovery);
    record
}

const HEADER: [&str; 12] = [
    "Phase",
    "Fault",
    "Requests",
    "Statuses",
    "5xx",
    "503 w/o Retry-After",
    "p99 ms",
    "Slowest ms",
    "Req/s",
    "Reads/s",
    "Read p99 ms",
    "Recovery",
];

fn row(record: &PhaseRecord) -> Vec<String> {
    let stats = &record.stats;
    vec![
        record.name.clone(),
        record.fault.clone(),
        stats.requests.to_string(),
        stats.statuses_text(),
        stats.server_errors.to_string(),
        stats.unavailable_without_retry_after.to_string(),
        ms(stats.p99),
        ms(stats.slowest),
        format!("{:.0}", stats.throughput()),
        format!("{:.0}", record.reads_per_second()),
        ms(PhaseStats::new(record.labelled(READ), stats.elapsed).p99),
        record
            .recovery
            .map_or_else(|| "-".to_owned(), Recovery::text),
    ]
}

/// The table of a scenario's phases.
pub fn table(records: &[PhaseRecord]) -> Table {
    let mut table = Table::new(&HEADER);
    for record in records {
        table.row(row(record));
    }
    table
}
