//! The dashboard and the alert rules against a real Prometheus.
//!
//! The real binary serves; a real Prometheus scrapes its admin `/metrics`
//! every second (with the `namespace` and `pod` target labels a
//! ServiceMonitor attaches) and evaluates `deploy/alerts/rules.yaml` every
//! second. Traffic runs while it scrapes. Then every query of
//! `deploy/dashboards/bulkhead.json` (Grafana's variables filled in) and
//! every alert expression goes through `GET /api/v1/query`, and:
//!
//! - no query may fail;
//! - every metric a query names must be one the service exports (its name
//!   is in the service's own `/metrics` output, which is how this test
//!   tells the service's metrics apart), one Prometheus writes per target
//!   (`up`), or one of `checks::OTHER_EXPORTERS` (kube-state-metrics);
//!   anything else is a misspelt or removed metric;
//! - every label matcher must be able to match: the label exists on that
//!   metric, and an `=` matcher's value exists too;
//! - a dashboard query that reads only the service's metrics (and `up`)
//!   must show data: at least one sample that is a number (`NaN` is what
//!   Grafana shows as no data); one over another exporter's metrics may be
//!   empty here;
//! - every alert rule is loaded, evaluates without error and is inactive,
//!   and `/api/v1/alerts` lists nothing: the service is healthy. (An alert
//!   expression is empty on a healthy service by design, so for alerts the
//!   matcher checks stand in for the "shows data" check.)

pub mod checks;
mod promql;
mod server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use checks::Checker;

use crate::binary::{Binary, Stdout};
use crate::helpers::{enqueue_event, metric_value, redis_url, scrape};
use server::{PrometheusServer, ScrapeTarget};

/// The job, namespace and pod labels of the scraped target.
const JOB: &str = "bulkhead";
const NAMESPACE: &str = "test";
const POD: &str = "bulkhead-0";
/// Rounds of traffic, each followed by a scrape.
const ROUNDS: usize = 3;
const WAIT: Duration = Duration::from_secs(30);

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .canonicalize()
        .unwrap()
}

/// Metrics only a resource moves: the cache-aside reads' counter. The
/// traffic here has no resource, so their panels may show no data; each
/// resource's own run of this check sees them move.
const RESOURCE_METRICS: &[&str] = &["cache_requests_total"];

#[tokio::test]
async fn dashboard_queries_and_alerts_work_against_a_real_prometheus() {
    check_dashboard_and_alerts(traffic, RESOURCE_METRICS).await;
}

/// Runs `traffic` for [`ROUNDS`] rounds, each writing one outbox event,
/// while a real Prometheus scrapes, then checks every dashboard query and
/// alert rule; `quiet` as in [`Checker::quiet`].
pub async fn check_dashboard_and_alerts(traffic: impl AsyncFn(&Binary, usize), quiet: &[&str]) {
    let prometheus_binary = server::binary();
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let redis = redis_url();
    let binary = Binary::start(
        &[
            ("REDIS_URL", redis.as_str()),
            ("CACHE_KEY_PREFIX", prefix.as_str()),
            ("OUTBOX_POLL_INTERVAL", "50ms"),
        ],
        Stdout::Collect,
    )
    .await;
    let rules_file = repo_file("deploy/alerts/rules.yaml");
    let target = ScrapeTarget {
        job: JOB,
        addr: binary.admin_addr,
        labels: &[("namespace", NAMESPACE), ("pod", POD)],
        interval: "1s",
    };
    let prometheus = PrometheusServer::start(&prometheus_binary, &target, &rules_file).await;

    // Successful scrapes so far. Traffic starts after the first, so that
    // Prometheus sees counters rise rather than appear.
    let scrapes = format!(r#"sum_over_time(up{{job="{JOB}"}}[1h])"#);
    prometheus.until_at_least(&scrapes, 1.0, WAIT).await;
    for round in 0..ROUNDS {
        traffic(&binary, round).await;
        let done = prometheus.number(&scrapes).await;
        prometheus.until_at_least(&scrapes, done + 1.0, WAIT).await;
    }
    // The outbox worker delivers each round's event to the log sender,
    // and Prometheus sees it.
    let text = until_delivered(&binary, ROUNDS).await;
    let delivered = format!(r#"max(worker_task_successes_total{{job="{JOB}"}})"#);
    prometheus
        .until_at_least(&delivered, ROUNDS as f64, WAIT)
        .await;
    let rules = until_rules_evaluated_again(&prometheus).await;

    let mut check = Checker::new(&prometheus, &text).quiet(quiet);
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/dashboards/bulkhead.json")).unwrap(),
    )
    .unwrap();
    check.dashboard(&dashboard).await;
    let expected_alerts = std::fs::read_to_string(&rules_file)
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    let alerts = prometheus.api("alerts").await;
    check.alerts(&rules, expected_alerts, &alerts).await;

    let problems = check.problems();
    assert!(
        problems.is_empty(),
        "{} problems:\n- {}\n--- the service's /metrics ---\n{text}",
        problems.len(),
        problems.join("\n- ")
    );
}

/// Reads the document, a probe, a 404, the outbox listing, and writes one
/// outbox event: requests of both listeners, database reads, and work for
/// the outbox worker.
async fn traffic(binary: &Binary, round: usize) {
    let client = &binary.client;
    for _ in 0..2 {
        let response = client
            .get(binary.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client.get(binary.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let missing = format!("/no/such/path/{round}");
    let response = client.get(binary.url(&missing)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = client
        .get(binary.admin_url("/admin/outbox?limit=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    enqueue_event(&binary.db, "thing.happened", json!({ "round": round })).await;
}

/// Polls the service's `/metrics` until the worker has delivered `n`
/// events, and returns the text.
async fn until_delivered(binary: &Binary, n: usize) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(&binary.client, &binary.admin_url("")).await;
        if metric_value(&text, "worker_task_successes_total").is_some_and(|v| v >= n as f64) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the worker delivered fewer than {n} events:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every rule group has been evaluated once more, and returns
/// the rules as of then.
async fn until_rules_evaluated_again(prometheus: &PrometheusServer) -> Value {
    let evaluations = |rules: &Value| -> Vec<String> {
        rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["lastEvaluation"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let before = evaluations(&prometheus.api("rules").await);
    let deadline = Instant::now() + WAIT;
    loop {
        let rules = prometheus.api("rules").await;
        if evaluations(&rules)
            .iter()
            .zip(&before)
            .all(|(now, then)| now != then)
        {
            return rules;
        }
        assert!(
            Instant::now() < deadline,
            "rules not evaluated again: {rules}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
