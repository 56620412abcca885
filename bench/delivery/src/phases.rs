//! The two measurements: latency of one event at a time, and throughput of
//! a full table drained by several replicas.

use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::Settings;
use crate::receiver::{Counts, Receiver};
use crate::replicas::Replica;

/// Creates sent before measuring: connections made, caches warm.
const WARM_UP: usize = 10;
/// Longest wait for one event in the latency phase.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the whole table in the throughput phase.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to keep listening for repeats after the last new id.
const SETTLE: Duration = Duration::from_secs(1);

/// Drops the bench database; the first replica creates and migrates it.
pub(crate) async fn recreate_database(settings: &Settings) -> anyhow::Result<()> {
    let name = &settings.database;
    anyhow::ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "BENCH_DELIVERY_DATABASE must be lower-case letters, digits and underscores"
    );
    let mut admin = PgConnection::connect(&format!("{}/postgres", settings.pg_server)).await?;
    // Safe to splice: the name was checked to be a plain identifier above.
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// `201` → webhook, in milliseconds (negative when the webhook came first).
#[derive(Debug)]
pub(crate) struct Latency {
    pub(crate) samples: Vec<f64>,
    pub(crate) median: f64,
    pub p99: f64,
    pub(crate) max: f64,
    /// Round trip of the create itself.
    pub(crate) request_median: f64,
    /// Creates whose event did not arrive within [`EVENT_TIMEOUT`].
    pub(crate) missed: usize,
    /// Samples where the webhook arrived before the client had its `201`.
    pub(crate) before_answer: usize,
}

/// One replica; each create waits for its `user.created` before the next.
pub(crate) async fn latency(
    settings: &Settings,
    client: &reqwest::Client,
    receiver: &Receiver,
) -> anyhow::Result<Latency> {
    let mut replica = Replica::start(settings, 0)?;
    replica.until_started(client).await?;
    let url = format!("http://{}/api/v1/users", replica.http_addr);
    let run = Uuid::now_v7().simple().to_string();
    let mut samples = Vec::with_capacity(settings.creates);
    let mut requests = Vec::with_capacity(settings.creates);
    let mut missed = 0;
    for i in 0..WARM_UP + settings.creates {
        let body = serde_json::json!({
            "email": format!("latency-{run}-{i}@example.com"),
            "name": format!("Latency {i}"),
        });
        let sent = Instant::now();
        let response = client.post(&url).json(&body).send().await?;
        let answered = Instant::now();
        anyhow::ensure!(
            response.status() == reqwest::StatusCode::CREATED,
            "POST /api/v1/users answered {}",
            response.status()
        );
        let user: serde_json::Value = response.json().await?;
        let id: Uuid = user["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the created user has no id"))?
            .parse()?;
        let Some(received) = receiver.created_at(id, EVENT_TIMEOUT).await else {
            missed += 1;
            continue;
        };
        if i >= WARM_UP {
            samples.push(signed_ms(received, answered));
            requests.push(signed_ms(answered, sent));
        }
    }
    drop(replica);
    let sorted = sorted_owned(samples.clone());
    Ok(Latency {
        median: percentile(&sorted, 0.5),
        p99: percentile(&sorted, 0.99),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        request_median: percentile(&sorted_owned(requests), 0.5),
        before_answer: samples.iter().filter(|ms| **ms < 0.0).count(),
        samples,
        missed,
    })
}

/// Deliveries per second and what the receiver counted.
#[derive(Debug)]
pub(crate) struct Throughput {
    pub(crate) events: u64,
    pub(crate) from_start: f64,
    pub(crate) first_to_last: f64,
    pub(crate) counts: Counts,
    /// Rows not `delivered` after the run, by status.
    pub(crate) not_delivered: Vec<(String, i64)>,
}

impl Throughput {
    /// Events that never arrived.
    pub(crate) const fn missing(&self) -> u64 {
        self.events.saturating_sub(self.counts.distinct)
    }

    /// Every event arrived once, signed, and was marked delivered.
    pub(crate) fn is_clean(&self) -> bool {
        self.missing() == 0
            && self.counts.duplicates() == 0
            && self.counts.bad_signatures == 0
            && self.not_delivered.is_empty()
    }
}

/// `settings.events` pending events, then `settings.replicas` replicas
/// started together; timed until the receiver has every id.
pub(crate) async fn throughput(
    settings: &Settings,
    client: &reqwest::Client,
    receiver: &Receiver,
) -> anyhow::Result<Throughput> {
    let mut db = PgConnection::connect(&settings.database_url()).await?;
    sqlx::query("TRUNCATE outbox_events")
        .execute(&mut db)
        .await?;
    preload(&mut db, settings.events).await?;
    receiver.reset();

    let started = Instant::now();
    let mut replicas = (0..settings.replicas)
        .map(|i| Replica::start(settings, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let events = settings.events as u64;
    let drained = tokio::select! {
        counts = receiver.until_distinct(events, DRAIN_TIMEOUT) => counts,
        // A replica that fails to start ends the run at once.
        Err(err) = async {
            for replica in &mut replicas {
                replica.until_started(client).await?;
            }
            std::future::pending::<anyhow::Result<()>>().await
        } => return Err(err),
    };
    tokio::time::sleep(SETTLE).await;
    let counts = receiver.counts();
    drop(replicas);

    let not_delivered = sqlx::query_as::<_, (String, i64)>(
        "SELECT status, count(*) FROM outbox_events WHERE status <> 'delivered' GROUP BY status",
    )
    .fetch_all(&mut db)
    .await?;
    db.close().await?;
    let rate = |from: Instant| match drained.last {
        Some(last) if last > from => drained.distinct as f64 / (last - from).as_secs_f64(),
        _ => 0.0,
    };
    Ok(Throughput {
        events,
        from_start: rate(started),
        first_to_last: drained.first.map_or(0.0, rate),
        counts,
        not_delivered,
    })
}

/// Writes `n` pending `user.created` events with the columns the service
/// writes (UUIDv7 ids, a user object as data), in one statement.
async fn preload(db: &mut PgConnection, n: usize) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        r#"INSERT INTO outbox_events (id, event_type, aggregate_id, payload, next_attempt_at, created_at)
           SELECT t.id, 'user.created', t.id,
                  jsonb_build_object(
                      'id', t.id,
                      'email', 'throughput-' || t.n || '@example.com',
                      'name', 'Throughput ' || t.n,
                      'created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                      'updated_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
                  now(), now()
           FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)"#,
    )
    .bind(&ids)
    .execute(&mut *db)
    .await?;
    Ok(())
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    if later >= earlier {
        (later - earlier).as_secs_f64() * 1e3
    } else {
        -(earlier - later).as_secs_f64() * 1e3
    }
}

fn sorted_owned(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
