//! The admin listener: `/metrics` (route templates, histograms, promtool)
//! and `/debug/log-level`, and its token.

use std::time::{Duration, Instant};

use app::telemetry::metrics::HISTOGRAM_BUCKETS;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, enqueue_event, metric_value};

#[tokio::test]
async fn metrics_use_route_templates_and_one_series_for_unmatched_paths() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK);
    // A route with a path parameter, on the admin listener: the template
    // is the label, never the id.
    let id = uuid::Uuid::now_v7().to_string();
    let retried = app
        .client
        .post(app.admin_url(&format!("/admin/outbox/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), StatusCode::NOT_FOUND);
    for i in 0..20 {
        assert_eq!(
            app.get(&format!("/scan/{i}/wp-admin.php")).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let text = app.metrics().await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/openapi.json",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_requests_total{method="POST",route="/admin/outbox/{id}/retry",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 20"#),
        "{text}"
    );
    assert!(!text.contains("wp-admin"), "a scanned path became a label");
    assert!(!text.contains(&id), "an id became a label");
    for name in [
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
        "db_pool_connections",
        "db_pool_acquire_duration_seconds_bucket",
        "readiness_ready",
        "dependency_up",
        "build_info{",
        "log_lines_dropped_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(
        text.contains("# HELP http_requests_total"),
        "metrics are described"
    );
}

#[tokio::test]
async fn metrics_pass_promtool() {
    let app = TestApp::spawn().await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    app.get("/openapi.json").await;
    let listed = app
        .client
        .get(app.admin_url("/admin/outbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    app.get("/nope").await;
    let text = app.metrics().await;
    crate::helpers::promtool_check_metrics(&text);
}

/// metrics-exporter-prometheus renders a histogram as a summary unless
/// buckets were configured for its name; a summary has no `_bucket` series
/// for `histogram_quantile` and cannot be summed across pods.
#[tokio::test]
async fn every_duration_metric_is_a_histogram_and_nothing_is_a_summary() {
    let app = TestApp::builder()
        .var("OUTBOX_POLL_INTERVAL", "20ms")
        .spawn()
        .await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let listed = app
        .client
        .get(app.admin_url("/admin/outbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK);
    // The outbox worker delivers the event to the log sender.
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = app.metrics().await;
        if metric_value(&text, "worker_task_successes_total").is_some_and(|n| n >= 1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "no event delivered:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let summaries: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" summary"))
        .collect();
    assert!(summaries.is_empty(), "rendered as summaries: {summaries:?}");
    for (name, buckets) in HISTOGRAM_BUCKETS {
        assert!(
            text.lines()
                .any(|l| l == format!("# TYPE {name} histogram")),
            "{name} is not a histogram:\n{text}"
        );
        assert_eq!(
            bucket_bounds(&text, name),
            buckets.to_vec(),
            "{name}: rendered buckets differ from the configured ones:\n{text}"
        );
    }
    for name in [
        "http_request_duration_seconds",
        "db_pool_acquire_duration_seconds",
        "worker_task_duration_seconds",
    ] {
        assert!(
            HISTOGRAM_BUCKETS.iter().any(|(n, _)| *n == name),
            "{name} has no buckets configured"
        );
    }
}

/// The finite `le` bounds of the first series of histogram `name`.
fn bucket_bounds(text: &str, name: &str) -> Vec<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut bounds = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let le = line
            .split("le=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        if le == "+Inf" {
            break;
        }
        bounds.push(le.parse().unwrap());
    }
    bounds
}

#[tokio::test]
async fn the_log_level_is_read_and_replaced_at_runtime() {
    let app = TestApp::spawn().await;
    let url = app.admin_url("/debug/log-level");
    let before = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let response = app
        .client
        .put(&url)
        .body("info,service=debug")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap().trim(), "info,service=debug");
    let now = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(now.trim(), "info,service=debug");

    let response = app
        .client
        .put(&url)
        .body("info,service=loud")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("unchanged"),
        "{problem}"
    );
    let still = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(still.trim(), "info,service=debug");
    assert_ne!(before.trim(), "");
}

#[tokio::test]
async fn admin_routes_require_the_token_when_one_is_set() {
    let app = TestApp::builder()
        .var("ADMIN_TOKEN", "s3cret-token")
        .spawn()
        .await;
    let url = app.admin_url("/debug/log-level");

    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let response = app
        .client
        .put(&url)
        .bearer_auth("wrong")
        .body("debug")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    let response = app
        .client
        .get(&url)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Scrapes need no token.
    assert_eq!(
        app.client
            .get(app.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let problem: Value = app
        .client
        .get(app.admin_url("/nope"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(problem["status"], 404);
}
