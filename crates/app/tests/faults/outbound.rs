//! The webhook receiver down, slow and answering 4xx, then the trace
//! collector black-holed, under load: requests never notice (latency as
//! in the healthy phase, within a stated margin; no 5xx), each failure is
//! visible, and once everything is back (dead events re-driven through
//! the admin API) every event written has been delivered.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use testkit::{Database, FaultProxy, Mode};

use crate::phases::{self, PHASE, PhaseRecord};
use crate::receivers::{Answer, Collector, WEBHOOK_SECRET, WebhookReceiver};
use crate::report::Report;
use crate::support::{self, Service, shared_redis_url};
use crate::workload::{self, Mix, Users};

const NAME: &str = "outbound";
/// Every wait on the webhook or the collector is bounded by a 1 s timeout,
/// so a request that waited on one would be slower by at least that.
const WEBHOOK_TIMEOUT: &str = "1s";
const OTLP_TIMEOUT_MS: &str = "1000";
/// A slow receiver answers after this, past `WEBHOOK_TIMEOUT`.
const SLOW: Duration = Duration::from_millis(1500);
/// p99 may be up to this factor of the healthy p99, plus `P99_PLUS`.
const P99_FACTOR: u32 = 2;
const P99_PLUS: Duration = Duration::from_millis(50);
/// The slowest request may be up to this much slower than the healthy
/// phase's slowest: half the smallest timeout a request could wait on.
const SLOWEST_PLUS: Duration = Duration::from_millis(500);
/// The longest the backlog may take to drain after everything is back.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);

pub async fn scenario() {
    let mut report = Report::new(
        3,
        NAME,
        "Webhook receiver down, slow, answering 4xx; trace collector black-holed",
    );
    let receiver = WebhookReceiver::start(Answer::Accept {
        delay: Duration::ZERO,
    })
    .await;
    let hook = FaultProxy::start(receiver.addr).await.unwrap();
    let collector = Collector::start().await;
    let otlp = FaultProxy::start(collector.addr).await.unwrap();
    let db = support::database(NAME).await;
    let vars = [
        ("DATABASE_URL", db.url(None)),
        ("REDIS_URL", shared_redis_url()),
        ("CACHE_KEY_PREFIX", format!("faults-{}", db.name())),
        (
            "WEBHOOK_URL",
            format!("http://{}/hook/service", hook.addr()),
        ),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("WEBHOOK_TIMEOUT", WEBHOOK_TIMEOUT.to_owned()),
        ("WEBHOOK_MAX_ATTEMPTS", "1000".to_owned()),
        ("WEBHOOK_BACKOFF_BASE", "50ms".to_owned()),
        ("WEBHOOK_BACKOFF_CAP", "500ms".to_owned()),
        ("OUTBOX_LEASE", "5s".to_owned()),
        ("BREAKER_COOL_DOWN", "1s".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", otlp.addr()),
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", OTLP_TIMEOUT_MS.to_owned()),
        // The receiver in this suite speaks OTLP/gRPC.
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
    ];
    let service = Service::start(
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
    // Seeding wrote an event per user too.
    let seeded = users.read.len() + users.patch.len();
    let mix = Mix {
        read: 85,
        create: 10,
    };
    let load = workload::load(workload::one(base), users, mix);
    let (r, c, p) = mix.describe();
    report.note(&format!(
        "The webhook receiver and an OTLP/gRPC collector, each behind a fault proxy. \
         WEBHOOK_TIMEOUT={WEBHOOK_TIMEOUT}, OTEL_EXPORTER_OTLP_TIMEOUT={OTLP_TIMEOUT_MS}ms, the \
         slow receiver answers after {} ms, the rejecting one 422. {} clients, {:.1} s per \
         phase, {r}% cached reads / {c}% creates / {p}% patches. Margin: p99 ≤ {P99_FACTOR} × \
         healthy p99 + {} ms, slowest ≤ healthy slowest + {} ms.",
        SLOW.as_millis(),
        workload::CLIENTS,
        PHASE.as_secs_f64(),
        P99_PLUS.as_millis(),
        SLOWEST_PLUS.as_millis()
    ));

    let errors = r"worker_task_errors_total";
    let export_failed = r#"otel_spans_dropped_total{reason="export_failed"}"#;
    let healthy = phases::plain(&load, "healthy", "none").await;

    hook.set(Mode::Refuse);
    let before = service.metric(errors).await;
    let refused = phases::plain(&load, "webhook refused", "webhook: refuse").await;
    let refused_errors = service.metric(errors).await - before;
    hook.set(Mode::Pass);

    receiver.answer(Answer::Slow { delay: SLOW });
    let before = service.metric(errors).await;
    let slow = phases::plain(&load, "webhook slow", "webhook: answers after 1.5 s").await;
    let slow_errors = service.metric(errors).await - before;

    receiver.answer(Answer::Reject(422));
    let rejecting = phases::plain(&load, "webhook 4xx", "webhook: 422").await;
    receiver.answer(Answer::Accept {
        delay: Duration::ZERO,
    });

    otlp.set(Mode::BlackHole);
    let before = service.metric(export_failed).await;
    let black_hole = phases::plain(&load, "collector black hole", "otlp: black hole").await;
    otlp.set(Mode::Pass);
    let spans_at_heal = collector.spans();
    let healed = phases::healing(&load, "healed", "none", &service).await;
    let failed_exports = service.metric(export_failed).await - before;
    let spans_after_heal = collector.spans() - spans_at_heal;

    let records = [healthy, refused, slow, rejecting, black_hole, healed];
    report.table(&phases::table(&records));
    for record in &records[1..] {
        check_latency(&mut report, &records[0], record);
    }
    report.check(
        "webhook refused: failed deliveries are counted",
        refused_errors > 0.0,
        format!("worker_task_errors_total +{refused_errors}"),
    );
    report.check(
        "webhook slow: timed-out deliveries are counted",
        slow_errors > 0.0,
        format!("worker_task_errors_total +{slow_errors}"),
    );
    report.check(
        "collector black hole: failed exports are counted",
        failed_exports > 0.0,
        format!("otel_spans_dropped_total{{reason=\"export_failed\"}} +{failed_exports}"),
    );
    report.check(
        "collector healed: spans arrive again",
        spans_after_heal > 0,
        format!("{spans_after_heal} spans received in the healed phase"),
    );
    let acknowledged: usize = records.iter().map(PhaseRecord::acknowledged_writes).sum();
    deliveries(&mut report, &service, &db, &receiver, acknowledged + seeded).await;
    report.finish();
}

fn check_latency(report: &mut Report, healthy: &PhaseRecord, record: &PhaseRecord) {
    let (h, s) = (&healthy.stats, &record.stats);
    let p99_limit = h.p99 * P99_FACTOR + P99_PLUS;
    let slowest_limit = h.slowest + SLOWEST_PLUS;
    report.check(
        format!("{}: latency as healthy, no failed request", record.name),
        s.p99 <= p99_limit
            && s.slowest <= slowest_limit
            && s.server_errors == 0
            && s.transport_failures() == 0,
        format!(
            "p99 {:.1} ms (limit {:.1}), slowest {:.1} ms (limit {:.1}), 5xx {}, no answer {}",
            ms(s.p99),
            ms(p99_limit),
            ms(s.slowest),
            ms(slowest_limit),
            s.server_errors,
            s.transport_failures()
        ),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Re-drives the dead events and waits until every event written has been
/// delivered.
async fn deliveries(
    report: &mut Report,
    service: &Service,
    db: &Database,
    receiver: &WebhookReceiver,
    acknowledged: usize,
) {
    let mut conn = db.connect().await.unwrap();
    let dead: Vec<String> =
        sqlx::query_scalar("SELECT id::text FROM outbox_events WHERE status = 'dead'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let rejected: HashSet<String> = receiver
        .receipts()
        .into_iter()
        .filter(|r| matches!(r.answer, Answer::Reject(_)))
        .map(|r| r.id)
        .collect();
    report.check(
        "webhook 4xx: events answered 4xx are dead, and only those",
        !dead.is_empty() && dead.iter().all(|id| rejected.contains(id)),
        format!(
            "{} dead, {} of them answered 4xx",
            dead.len(),
            dead.iter().filter(|id| rejected.contains(*id)).count()
        ),
    );
    let response = service
        .client
        .post(service.admin_url("/admin/outbox/redrive"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let redriven = body["redriven"].as_u64();
    report.check(
        "POST /admin/outbox/redrive re-drives every dead event",
        status == 200 && redriven == Some(dead.len() as u64),
        format!("{status} {body}"),
    );

    let started = Instant::now();
    let (written, missing, pending) = loop {
        let ids: Vec<(String, String)> =
            sqlx::query_as("SELECT id::text, status FROM outbox_events")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let delivered: HashSet<String> = receiver
            .receipts()
            .into_iter()
            .filter(|r| r.delivered())
            .map(|r| r.id)
            .collect();
        let missing = ids.iter().filter(|(id, _)| !delivered.contains(id)).count();
        let pending = ids.iter().filter(|(_, s)| s != "delivered").count();
        if (missing == 0 && pending == 0) || started.elapsed() > DRAIN_LIMIT {
            break (ids.len(), missing, pending);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let receipts = receiver.receipts();
    report.note(&format!(
        "Events written: {written}; requests received by the webhook: {}; dead after the 4xx \
         phase and re-driven: {}; backlog delivered {:.1} s after the heal phase.",
        receipts.len(),
        dead.len(),
        started.elapsed().as_secs_f64()
    ));
    report.check(
        "every acknowledged write left an event",
        written >= acknowledged,
        format!("{written} events for {acknowledged} acknowledged writes"),
    );
    report.check(
        format!(
            "every event delivered after recovery, none lost (within {} s)",
            DRAIN_LIMIT.as_secs()
        ),
        missing == 0 && pending == 0,
        format!(
            "{written} events: {missing} never accepted by the receiver, {pending} not marked delivered"
        ),
    );
}
