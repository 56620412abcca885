//! `SIGTERM` under load: readiness fails at once, requests keep being
//! served for `SHUTDOWN_DELAY`, then the listener closes and the requests
//! in flight finish. No request started before the listener closed may
//! fail; those started after may be refused at connect, and are counted
//! apart.

use std::time::{Duration, Instant, SystemTime};

use testkit::Sample;
use testkit::http::until_status;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::phases::{self, PhaseRecord};
use crate::report::Report;
use crate::support::{self, Service, shared_redis_url};
use crate::workload::{self, Mix, Users};

const NAME: &str = "sigterm";
const SHUTDOWN_DELAY: Duration = Duration::from_secs(1);
const SHUTDOWN_TIMEOUT: &str = "10s";
/// Load before the signal, and in all.
const BEFORE_SIGNAL: Duration = Duration::from_millis(1500);
const LOAD: Duration = Duration::from_secs(4);
/// The server's log line written once its listener is closed.
const CLOSED: &str = "stopped accepting connections; draining";

pub async fn scenario() {
    let mut report = Report::new(5, NAME, "SIGTERM under load");
    let db = support::database(NAME).await;
    let vars = [
        ("DATABASE_URL", db.url(None)),
        ("REDIS_URL", shared_redis_url()),
        ("CACHE_KEY_PREFIX", format!("faults-{}", db.name())),
        ("SHUTDOWN_DELAY", "1s".to_owned()),
        ("SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT.to_owned()),
        // The line saying when the listener closed is at info.
        ("LOG_LEVEL", "warn,handler::server=info".to_owned()),
    ];
    let mut service = Service::start(
        NAME,
        "service",
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
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
        "SHUTDOWN_DELAY=1s, SHUTDOWN_TIMEOUT=10s. {} clients, {r}% cached reads / {c}% creates \
         / {p}% patches, for {:.1} s; SIGTERM after {:.1} s.",
        workload::CLIENTS,
        LOAD.as_secs_f64(),
        BEFORE_SIGNAL.as_secs_f64()
    ));

    let started = Instant::now();
    let (samples, (signalled, not_ready_after)) =
        tokio::join!(load.run(LOAD, workload::MAX_REQUESTS_PER_PHASE), async {
            tokio::time::sleep(BEFORE_SIGNAL).await;
            let signalled = SystemTime::now();
            service.process.signal("TERM").await.unwrap();
            let not_ready = until_status(
                &service.client,
                &service.url("/readyz"),
                503,
                SHUTDOWN_DELAY,
            )
            .await
            .ok();
            (signalled, not_ready)
        });
    let elapsed = started.elapsed();
    let exit = service.process.wait(Duration::from_secs(15)).await;
    let closed = closed_at(&service);
    let closed_or_end = closed.unwrap_or_else(SystemTime::now);

    let phase = |name: &str, fault: &str, from: SystemTime, to: SystemTime| {
        let part: Vec<Sample> = samples
            .iter()
            .filter(|s| from <= s.started_at && s.started_at < to)
            .cloned()
            .collect();
        let span = to.duration_since(from).unwrap_or_default().min(elapsed);
        PhaseRecord::new(name, fault, part, span)
    };
    let start = samples
        .first()
        .map_or_else(SystemTime::now, |s| s.started_at);
    let end = SystemTime::now();
    let records = [
        phase("before SIGTERM", "none", start, signalled),
        phase("SHUTDOWN_DELAY", "SIGTERM", signalled, closed_or_end),
        phase("after the listener closed", "closed", closed_or_end, end),
    ];
    report.table(&phases::table(&records));

    let served: Vec<&Sample> = records[..2].iter().flat_map(|r| &r.samples).collect();
    // A request refused at connect was never sent: the listener was closed
    // when its connection arrived, whatever the client's clock said when
    // it started (the close is read from a log line, a few ms apart from
    // the clients' clocks). Such requests are counted with those after the
    // close; every request that reached the service must succeed.
    let failed: Vec<&Sample> = served
        .iter()
        .filter(|s| {
            !matches!(s.result, Err(testkit::load::Failure::Connect))
                && (s.result.is_err() || s.is_server_error())
        })
        .copied()
        .collect();
    report.check(
        "0 failed requests among those started before the listener closed",
        closed.is_some() && failed.is_empty(),
        format!(
            "{} of {} failed {}",
            failed.len(),
            served.len(),
            failed
                .iter()
                .take(3)
                .map(|s| describe(s, closed_or_end))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    let after = &records[2].stats;
    report.note(&format!(
        "After the listener closed: {} requests, {} answered, {} refused at connect, {} other \
         failures{}.",
        after.requests,
        after.statuses.values().sum::<usize>(),
        after.connect_failures,
        after.other_failures + after.timeouts,
        if after.failure_causes.is_empty() {
            String::new()
        } else {
            format!(" ({})", after.failure_causes.join("; "))
        }
    ));
    report.check(
        "/readyz fails at once (within SHUTDOWN_DELAY)",
        not_ready_after.is_some(),
        not_ready_after.map_or_else(
            || "still 200 after SHUTDOWN_DELAY".to_owned(),
            |d| format!("503 after {:.0} ms", d.as_secs_f64() * 1000.0),
        ),
    );
    report.check(
        "the listener closes after SHUTDOWN_DELAY",
        closed.is_some_and(|c| c.duration_since(signalled).unwrap_or_default() >= SHUTDOWN_DELAY),
        closed.map_or_else(
            || format!("no `{CLOSED}` log line"),
            |c| {
                format!(
                    "closed {:.0} ms after SIGTERM",
                    c.duration_since(signalled)
                        .unwrap_or_default()
                        .as_secs_f64()
                        * 1000.0
                )
            },
        ),
    );
    report.check(
        "exit code 0 (every in-flight request finished in time)",
        exit.as_ref().is_ok_and(|s| s.code() == Some(0)),
        format!("{exit:?}"),
    );
    report.finish();
}

/// A failed request: its kind, when it started relative to the close, and
/// what happened.
fn describe(sample: &Sample, closed: SystemTime) -> String {
    let (side, offset) = match closed.duration_since(sample.started_at) {
        Ok(before) => ("before", before),
        Err(after) => ("after", after.duration()),
    };
    let outcome = match &sample.result {
        Ok(status) => status.to_string(),
        Err(failure) => format!("{failure:?}"),
    };
    format!(
        "{} started {:.1} ms {side} the close, took {:.1} ms: {outcome}",
        sample.label,
        offset.as_secs_f64() * 1000.0,
        sample.latency.as_secs_f64() * 1000.0
    )
}

/// When the listener closed, from the server's log line.
fn closed_at(service: &Service) -> Option<SystemTime> {
    service
        .process
        .json_lines()
        .into_iter()
        // The admin listener closes later with the same line, and its own
        // drain timeout.
        .find(|l| l["message"] == CLOSED && l["timeout"] == SHUTDOWN_TIMEOUT)
        .and_then(|l| OffsetDateTime::parse(l["timestamp"].as_str()?, &Rfc3339).ok())
        .map(SystemTime::from)
}
