//! PostgreSQL refused, then black-holed, under load: requests end within
//! the deadline, 503s say when to retry, cached reads keep answering, and
//! the service recovers by itself after each heal.

use std::time::Duration;

use testkit::{FaultProxy, Mode};

use crate::phases::{self, PHASE, PhaseRecord};
use crate::report::Report;
use crate::support::{self, Service, shared_redis_url};
use crate::workload::{self, Mix, READ, Users};

const NAME: &str = "postgres";
/// `REQUEST_TIMEOUT` of this scenario (from `support::base_vars`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Allowance for measuring at the client on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);
/// The longest a recovery may take.
const RECOVERY: Duration = Duration::from_secs(5);

/// What `/readyz` answers near the end of a phase.
async fn readiness_late_in_phase(service: &Service) -> u16 {
    tokio::time::sleep(PHASE.saturating_sub(Duration::from_millis(300))).await;
    service.readiness().await
}

pub async fn scenario() {
    let mut report = Report::new(1, NAME, "PostgreSQL refused, then black-holed");
    let db = support::database(NAME).await;
    let proxy = FaultProxy::start(db.server_addr().unwrap()).await.unwrap();
    let service = Service::start(
        NAME,
        "service",
        vec![
            ("DATABASE_URL".to_owned(), db.url(Some(proxy.addr()))),
            ("REDIS_URL".to_owned(), shared_redis_url()),
            (
                "CACHE_KEY_PREFIX".to_owned(),
                format!("faults-{}", db.name()),
            ),
        ],
    )
    .await;
    let base = service.url("");
    let users = Users {
        read: workload::seed(&service.client, &base, "read", 200).await,
        patch: workload::seed(&service.client, &base, "patch", 50).await,
    };
    workload::warm(&service.client, &base, &users.read).await;
    let mix = Mix {
        read: 80,
        create: 10,
    };
    let load = workload::load(workload::one(base), users, mix);
    let (r, c, p) = mix.describe();
    report.note(&format!(
        "PostgreSQL behind a fault proxy; Redis up. REQUEST_TIMEOUT=2s, \
         DATABASE_ACQUIRE_TIMEOUT=1s, DATABASE_STATEMENT_TIMEOUT=1s, HEALTH_CHECK_INTERVAL=250ms. \
         {} clients, {:.1} s per phase, {r}% cached reads / {c}% creates / {p}% patches.",
        workload::CLIENTS,
        PHASE.as_secs_f64()
    ));

    let healthy = phases::plain(&load, "healthy", "none").await;
    proxy.set(Mode::Refuse);
    let (refused, refused_ready) = phases::run(
        &load,
        "postgres refused",
        "postgres: refuse",
        readiness_late_in_phase(&service),
    )
    .await;
    proxy.set(Mode::Pass);
    let healed = phases::healing(&load, "healed", "none", &service).await;
    proxy.set(Mode::BlackHole);
    let (black_hole, black_hole_ready) = phases::run(
        &load,
        "postgres black hole",
        "postgres: black hole",
        readiness_late_in_phase(&service),
    )
    .await;
    proxy.set(Mode::Pass);
    let healed_again = phases::healing(&load, "healed", "none", &service).await;

    let records = [healthy, refused, healed, black_hole, healed_again];
    report.table(&phases::table(&records));
    let [healthy, refused, healed, black_hole, healed_again] = records;

    report.check(
        "healthy: no 5xx",
        healthy.stats.server_errors == 0,
        format!("5xx: {}", healthy.stats.server_errors),
    );
    for (fault, ready) in [(&refused, refused_ready), (&black_hole, black_hole_ready)] {
        check_fault(&mut report, fault, ready);
    }
    for (after, heal) in [("refused", &healed), ("black hole", &healed_again)] {
        let recovery = heal.recovery.unwrap_or_default();
        report.check(
            format!(
                "after {after}: a write succeeds and /readyz is 200 within {} s",
                RECOVERY.as_secs()
            ),
            recovery.total().is_some_and(|t| t <= RECOVERY),
            format!(
                "write after {}, ready after {}",
                secs(recovery.write),
                secs(recovery.ready)
            ),
        );
    }
    report.finish();
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never".to_owned(),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}

fn check_fault(report: &mut Report, fault: &PhaseRecord, readiness: u16) {
    let stats = &fault.stats;
    let name = &fault.name;
    report.check(
        format!(
            "{name}: every response within REQUEST_TIMEOUT ({} s, + {} ms measuring slack)",
            REQUEST_TIMEOUT.as_secs(),
            SLACK.as_millis()
        ),
        stats.transport_failures() == 0 && stats.slowest <= REQUEST_TIMEOUT + SLACK,
        format!(
            "slowest {:.0} ms; {} without an answer",
            stats.slowest.as_secs_f64() * 1000.0,
            stats.transport_failures()
        ),
    );
    report.check(
        format!("{name}: every 503 has Retry-After"),
        stats.unavailable_without_retry_after == 0,
        format!(
            "503×{}, {} without Retry-After",
            stats.count(503),
            stats.unavailable_without_retry_after
        ),
    );
    let reads = fault.labelled(READ).count();
    let ok = fault.labelled(READ).filter(|s| s.is(200)).count();
    report.check(
        format!("{name}: cached reads keep answering 200"),
        reads > 0 && ok == reads,
        format!("{ok} of {reads} reads answered 200"),
    );
    report.check(
        format!("{name}: /readyz reports it (503)"),
        readiness == 503,
        format!("/readyz answered {readiness}"),
    );
}
