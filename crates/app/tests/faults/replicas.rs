//! Three replicas on one database under load, one killed with `SIGKILL`
//! while its worker holds leases: every event is still delivered, and an
//! event arrives twice only if the killed replica had leased it (it sent
//! it, then died before recording the delivery; another replica sent it
//! again once the lease lapsed).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use testkit::Sample;

use crate::phases::{self, PhaseRecord};
use crate::receivers::{Answer, WEBHOOK_SECRET, WebhookReceiver};
use crate::report::Report;
use crate::support::{self, Service, shared_redis_url};
use crate::workload::{self, Mix, Targets, Users};

const NAME: &str = "replicas";
const REPLICAS: usize = 3;
/// The replica killed (0-based): the last.
const VICTIM: usize = REPLICAS - 1;
/// Each receipt takes this long, so every worker always holds a batch.
const RECEIVER_DELAY: Duration = Duration::from_millis(5);
const LEASE: &str = "2s";
/// Load before the kill, then after it.
const BEFORE_KILL: Duration = Duration::from_millis(1500);
const AFTER_KILL: Duration = Duration::from_millis(2500);
const DELIVERY_LIMIT: Duration = Duration::from_secs(60);

pub async fn scenario() {
    let mut report = Report::new(4, NAME, "Three replicas, one SIGKILLed mid-load");
    let receiver = WebhookReceiver::start(Answer::Accept {
        delay: RECEIVER_DELAY,
    })
    .await;
    let db = support::database(NAME).await;
    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        let vars = [
            ("DATABASE_URL", db.url(None)),
            ("REDIS_URL", shared_redis_url()),
            ("CACHE_KEY_PREFIX", format!("faults-{}", db.name())),
            ("WEBHOOK_URL", format!("http://{}/hook/r{i}", receiver.addr)),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("WEBHOOK_TIMEOUT", "1s".to_owned()),
            ("OUTBOX_LEASE", LEASE.to_owned()),
            ("OUTBOX_BATCH_SIZE", "10".to_owned()),
        ];
        let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        replicas.push(Service::start(NAME, &format!("r{i}"), vars).await);
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.url("")).collect();
    // The victim is the last one: it leaves the list to be killed.
    let mut victim = replicas.pop().unwrap();
    let client = &replicas[0].client;
    let users = Users {
        read: workload::seed(client, &bases[0], "read", 100).await,
        patch: workload::seed(client, &bases[1], "patch", 50).await,
    };
    for base in &bases {
        workload::warm(client, base, &users.read).await;
    }
    let targets: Targets = std::sync::Arc::new(std::sync::RwLock::new(bases.clone()));
    let mix = Mix {
        read: 40,
        create: 40,
    };
    let load = workload::load(targets.clone(), users, mix);
    let (r, c, p) = mix.describe();
    report.note(&format!(
        "{REPLICAS} processes on one database, each delivering to its own webhook path; \
         OUTBOX_LEASE={LEASE}, OUTBOX_BATCH_SIZE=10, the receiver takes {} ms per event. {} \
         clients over all replicas, {r}% cached reads / {c}% creates / {p}% patches; r{VICTIM} \
         is killed after {:.1} s and taken out of the targets.",
        RECEIVER_DELAY.as_millis(),
        workload::CLIENTS,
        BEFORE_KILL.as_secs_f64()
    ));

    let started = Instant::now();
    let (samples, (killed_at, leased_at_kill)) = tokio::join!(
        load.run(BEFORE_KILL + AFTER_KILL, workload::MAX_REQUESTS_PER_PHASE),
        async {
            tokio::time::sleep(BEFORE_KILL).await;
            targets.write().unwrap().remove(VICTIM);
            let killed_at = Instant::now();
            victim.process.kill().await.unwrap();
            // The leases held when it died: no other worker can have
            // taken them yet (they last OUTBOX_LEASE).
            let mut conn = db.connect().await.unwrap();
            let leased: Vec<String> = sqlx::query_scalar(
                "SELECT id::text FROM outbox_events
                 WHERE status = 'pending' AND locked_until > now()",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            (killed_at, leased.into_iter().collect::<HashSet<_>>())
        }
    );
    let elapsed = started.elapsed();
    let (before, after): (Vec<Sample>, Vec<Sample>) =
        samples.into_iter().partition(|s| s.started < killed_at);
    let before = PhaseRecord::new(
        "three replicas",
        "none",
        before,
        killed_at.duration_since(started),
    );
    let after = PhaseRecord::new(
        "after SIGKILL",
        &format!("r{VICTIM}: SIGKILL"),
        after,
        elapsed.saturating_sub(killed_at.duration_since(started)),
    );
    report.table(&phases::table(&[before.clone(), after.clone()]));

    for record in [&before, &after] {
        report.check(
            format!("{}: no 5xx", record.name),
            record.stats.server_errors == 0,
            format!("5xx: {}", record.stats.server_errors),
        );
    }
    // A request to the victim that was in flight when it died has no
    // answer; every other request must have one.
    let unanswered: Vec<&Sample> = before
        .samples
        .iter()
        .chain(&after.samples)
        .filter(|s| s.result.is_err())
        .collect();
    let in_flight = unanswered
        .iter()
        .filter(|s| s.started < killed_at && s.started + s.latency >= killed_at)
        .count();
    report.check(
        format!("only requests in flight at the kill of r{VICTIM} go unanswered"),
        in_flight == unanswered.len() && in_flight <= workload::CLIENTS,
        format!(
            "{} without an answer, {in_flight} of them in flight at the kill",
            unanswered.len()
        ),
    );
    deliveries(&mut report, &db, &receiver, &leased_at_kill).await;
    report.finish();
}

async fn deliveries(
    report: &mut Report,
    db: &testkit::Database,
    receiver: &WebhookReceiver,
    leased_at_kill: &HashSet<String>,
) {
    let victim = format!("r{VICTIM}");
    let mut conn = db.connect().await.unwrap();
    let started = Instant::now();
    let (ids, pending) = loop {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id::text, status FROM outbox_events")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let received: HashSet<String> = receiver.receipts().into_iter().map(|r| r.id).collect();
        let done = rows
            .iter()
            .all(|(id, status)| status == "delivered" && received.contains(id));
        if done || started.elapsed() > DELIVERY_LIMIT {
            let pending = rows.iter().filter(|(_, s)| s != "delivered").count();
            break (
                rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
                pending,
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let receipts = receiver.receipts();
    let mut by_id: HashMap<&str, Vec<&str>> = HashMap::new();
    for receipt in &receipts {
        by_id
            .entry(receipt.id.as_str())
            .or_default()
            .push(receipt.from.as_str());
    }
    let sent_by_victim: HashSet<&str> = receipts
        .iter()
        .filter(|r| r.from == victim)
        .map(|r| r.id.as_str())
        .collect();
    let missing = ids
        .iter()
        .filter(|id| !by_id.contains_key(id.as_str()))
        .count();
    let duplicates: Vec<&str> = by_id
        .iter()
        .filter(|(_, from)| from.len() > 1)
        .map(|(id, _)| *id)
        .collect();
    let unexpected: Vec<&str> = duplicates
        .iter()
        .filter(|id| !(sent_by_victim.contains(*id) && leased_at_kill.contains(**id)))
        .copied()
        .collect();
    let per_replica: Vec<String> = (0..REPLICAS)
        .map(|i| {
            let from = format!("r{i}");
            let n = receipts.iter().filter(|r| r.from == from).count();
            format!("r{i} {n}")
        })
        .collect();
    report.note(&format!(
        "Events written: {}; requests received: {} ({}); duplicates: {}; leased when r{VICTIM} \
         died: {}; all delivered {:.1} s after the load ended.",
        ids.len(),
        receipts.len(),
        per_replica.join(", "),
        duplicates.len(),
        leased_at_kill.len(),
        started.elapsed().as_secs_f64()
    ));
    report.check(
        format!("r{VICTIM} was delivering when it was killed"),
        !sent_by_victim.is_empty() && !leased_at_kill.is_empty(),
        format!(
            "r{VICTIM} sent {} events; {} leased at the kill",
            sent_by_victim.len(),
            leased_at_kill.len()
        ),
    );
    report.check(
        format!(
            "every event delivered (each webhook-id at least once, within {} s)",
            DELIVERY_LIMIT.as_secs()
        ),
        missing == 0 && pending == 0,
        format!(
            "{} events: {missing} never received, {pending} not marked delivered",
            ids.len()
        ),
    );
    report.check(
        format!("duplicates only among events r{VICTIM} had leased and sent"),
        unexpected.is_empty(),
        format!(
            "{} duplicates, {} of them not leased and sent by r{VICTIM}{}",
            duplicates.len(),
            unexpected.len(),
            unexpected
                .first()
                .map(|id| format!(" (e.g. {id}: {:?})", by_id[id]))
                .unwrap_or_default()
        ),
    );
}
