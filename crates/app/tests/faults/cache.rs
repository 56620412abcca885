//! Redis refused, black-holed, and refusing only the cache's scripts (the
//! fills and the invalidations) while plain reads still work: no request
//! fails, reads keep at least half their healthy throughput, and a user
//! patched during the failure is never read stale after the heal.
//!
//! Redis here is a private `redis-server` of the scenario's own, so that
//! taking `@scripting` away from its default user touches no other test.

use std::time::Duration;

use testkit::{FaultProxy, Mode, Process, ProcessBuilder};

use crate::phases::{self, PHASE, PhaseRecord};
use crate::report::Report;
use crate::support::{self, Service, log_file};
use crate::workload::{self, Mix, Users};

const NAME: &str = "redis";
/// Users patched during each failure, then read after its heal.
const STALE_PROBES: usize = 5;
/// The least share of the healthy read throughput a failure may leave.
const MIN_READ_SHARE: f64 = 0.5;
/// Log lines of a cache call that failed or timed out (each message
/// contains it), and of a failed invalidation.
const CACHE_FAILURE_LOG: &str = "without the cache";

/// A private Redis server on a free loopback port.
struct PrivateRedis {
    _process: Process,
    url: String,
    addr: std::net::SocketAddr,
}

impl PrivateRedis {
    async fn start() -> Self {
        let addr = testkit::http::free_addr().await.unwrap();
        let process = ProcessBuilder::new("redis-server", log_file(NAME, "redis-server"))
            .var("PATH", std::env::var("PATH").unwrap_or_default())
            // Loopback only, nothing written to disk.
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--port",
            ])
            .arg(addr.port().to_string())
            .spawn()
            .expect("starting redis-server (is it installed?)");
        let url = format!("redis://{addr}");
        let redis = Self {
            _process: process,
            url,
            addr,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while redis.command(&["PING"]).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    async fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut conn = redis::Client::open(self.url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        let mut cmd = redis::cmd(args[0]);
        cmd.arg(&args[1..]);
        cmd.query_async(&mut conn).await
    }

    /// Takes the scripting commands from the default user, or gives them
    /// back.
    async fn scripting(&self, allowed: bool) {
        let rule = if allowed { "+@all" } else { "-@scripting" };
        self.command(&["ACL", "SETUSER", "default", rule])
            .await
            .expect("changing the default user's ACL");
    }
}

/// Patches `ids` a little into the phase; returns the names given and the
/// statuses answered.
async fn patch_during(service: &Service, ids: &[String], phase: &str) -> Vec<(String, u16)> {
    tokio::time::sleep(PHASE / 3).await;
    let mut patched = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let name = format!("Patched during {phase} {i}");
        let status = workload::rename_user(&service.client, &service.url(""), id, &name).await;
        patched.push((name, status));
    }
    patched
}

/// What a failure phase measured beside its load.
struct Failure {
    record: PhaseRecord,
    readiness: u16,
    logged: usize,
    /// Patched users read back after the heal, and what was wrong.
    probes: usize,
    stale: Vec<String>,
}

pub async fn scenario() {
    let mut report = Report::new(
        2,
        NAME,
        "Redis refused, black-holed, refusing invalidations",
    );
    let redis = PrivateRedis::start().await;
    let proxy = FaultProxy::start(redis.addr).await.unwrap();
    let db = support::database(NAME).await;
    let service = Service::start(
        NAME,
        "service",
        vec![
            ("DATABASE_URL".to_owned(), db.url(None)),
            ("REDIS_URL".to_owned(), format!("redis://{}", proxy.addr())),
        ],
    )
    .await;
    let base = service.url("");
    let users = Users {
        read: workload::seed(&service.client, &base, "read", 200).await,
        patch: workload::seed(&service.client, &base, "patch", 50).await,
    };
    let probes = workload::seed(&service.client, &base, "stale", 3 * STALE_PROBES).await;
    workload::warm(&service.client, &base, &users.read).await;
    workload::warm(&service.client, &base, &probes).await;
    let mix = Mix {
        read: 80,
        create: 10,
    };
    let load = workload::load(workload::one(base.clone()), users, mix);
    let (r, c, p) = mix.describe();
    report.note(&format!(
        "A private redis-server behind a fault proxy; PostgreSQL up. CACHE_TIMEOUT=50ms \
         (default). {} clients, {:.1} s per phase, {r}% cached reads / {c}% creates / {p}% \
         patches. During each failure {STALE_PROBES} cached users are patched; after the heal \
         they are read back. (A black hole holds the invalidations sent into it and passes them \
         on when it heals, as TCP retransmission would: refused connections and refused scripts \
         are the failures that lose them.)",
        workload::CLIENTS,
        PHASE.as_secs_f64()
    ));

    let healthy = phases::plain(&load, "healthy", "none").await;
    let mut records = vec![healthy.clone()];
    let mut failures = Vec::new();
    let faults = [
        ("redis refused", "redis: refuse"),
        ("redis black hole", "redis: black hole"),
        ("scripts refused", "redis: ACL -@scripting"),
    ];
    for (i, (phase, fault)) in faults.into_iter().enumerate() {
        let probe_ids = probes[i * STALE_PROBES..(i + 1) * STALE_PROBES].to_vec();
        match i {
            0 => proxy.set(Mode::Refuse),
            1 => proxy.set(Mode::BlackHole),
            _ => redis.scripting(false).await,
        }
        let logged_before = service.log_count(CACHE_FAILURE_LOG);
        let (record, (readiness, patched)) = phases::run(&load, phase, fault, async {
            tokio::join!(
                async {
                    tokio::time::sleep(PHASE.saturating_sub(Duration::from_millis(300))).await;
                    service.readiness().await
                },
                patch_during(&service, &probe_ids, phase)
            )
        })
        .await;
        let logged = service.log_count(CACHE_FAILURE_LOG) - logged_before;
        proxy.set(Mode::Pass);
        redis.scripting(true).await;
        let healed = phases::healing(&load, "healed", "none", &service).await;
        let stale = read_back(&service, &probe_ids, &patched).await;
        records.push(record.clone());
        records.push(healed);
        failures.push(Failure {
            record,
            readiness,
            logged,
            probes: probe_ids.len(),
            stale,
        });
    }
    report.table(&phases::table(&records));

    for record in &records {
        report.check(
            format!("{}: no 5xx", record.name),
            record.stats.server_errors == 0 && record.stats.transport_failures() == 0,
            format!(
                "5xx: {}, without an answer: {}",
                record.stats.server_errors,
                record.stats.transport_failures()
            ),
        );
    }
    let healthy_reads = healthy.reads_per_second();
    for failure in &failures {
        check_failure(&mut report, failure, healthy_reads);
    }
    report.finish();
}

/// Reads each patched user back; describes every one not read as patched.
async fn read_back(service: &Service, ids: &[String], patched: &[(String, u16)]) -> Vec<String> {
    let mut stale = Vec::new();
    for (id, (expected, status)) in ids.iter().zip(patched) {
        let (read_status, name) = workload::read_user(&service.client, &service.url(""), id).await;
        if *status != 200 || read_status != 200 || &name != expected {
            stale.push(format!(
                "patch {status}, then read {read_status} `{name}` (want `{expected}`)"
            ));
        }
    }
    stale
}

fn check_failure(report: &mut Report, failure: &Failure, healthy: f64) {
    let name = &failure.record.name;
    let reads = failure.record.reads_per_second();
    report.check(
        format!(
            "{name}: reads keep ≥ {:.0} % of the healthy throughput",
            MIN_READ_SHARE * 100.0
        ),
        reads >= MIN_READ_SHARE * healthy,
        format!(
            "{reads:.0} reads/s vs {healthy:.0} healthy ({:.0} %)",
            100.0 * reads / healthy.max(1.0)
        ),
    );
    report.check(
        format!("{name}: /readyz stays 200 (degraded)"),
        failure.readiness == 200,
        format!("/readyz answered {}", failure.readiness),
    );
    report.check(
        format!("{name}: the cache failures are logged"),
        failure.logged > 0,
        format!("{} `{CACHE_FAILURE_LOG}` lines", failure.logged),
    );
    let stale = &failure.stale;
    report.check(
        format!("{name}: no stale read after the heal"),
        stale.is_empty(),
        if stale.is_empty() {
            format!("{} patched users read back new", failure.probes)
        } else {
            format!(
                "{} of {} stale: {}",
                stale.len(),
                failure.probes,
                stale.first().cloned().unwrap_or_default()
            )
        },
    );
}
