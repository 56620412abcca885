//! The dashboard and the alert rules against a real Prometheus, with the
//! users example's traffic: its cache-aside reads move the cache panels,
//! which the run without a resource (`prometheus.rs`) cannot.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::Binary;
use crate::prometheus::check_dashboard_and_alerts;

#[tokio::test]
async fn dashboard_queries_and_alerts_show_the_users_traffic() {
    check_dashboard_and_alerts(traffic, &[]).await;
}

/// Creates, reads (a cache miss, then a hit), a 404, a 422 and a list.
async fn traffic(binary: &Binary, round: usize) {
    let client = &binary.client;
    let users = binary.url("/api/v1/users");
    let body = json!({ "email": format!("prom{round}@example.com"), "name": "Prom" });
    let response = client.post(&users).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let user = format!("{users}/{}", created["id"].as_str().unwrap());
    for _ in 0..2 {
        let response = client.get(&user).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let missing = format!("{users}/{}", uuid::Uuid::new_v4());
    let response = client.get(&missing).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let invalid = json!({ "email": "not an email", "name": "" });
    let response = client.post(&users).json(&invalid).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = client
        .get(format!("{users}?limit=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
