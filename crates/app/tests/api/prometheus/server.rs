//! A real Prometheus server for one test: Debian's build, named by the
//! `PROMETHEUS` variable (`make test` installs it and exports the path),
//! in a temporary folder, on a free loopback port, killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::binary::free_addr;
use crate::helpers::http_client;

/// The server binary named by `PROMETHEUS`; fails the test with how to get
/// one when it is unset.
pub fn binary() -> PathBuf {
    std::env::var_os("PROMETHEUS").map(PathBuf::from).expect(
        "PROMETHEUS must name a Prometheus server binary; `make test` installs one \
         (make tool-prometheus) and exports its path",
    )
}

/// What Prometheus scrapes and how often.
pub struct ScrapeTarget<'a> {
    pub job: &'a str,
    pub addr: SocketAddr,
    /// Target labels, as a ServiceMonitor would attach (`namespace`, `pod`).
    pub labels: &'a [(&'a str, &'a str)],
    pub interval: &'a str,
}

/// The running server. Dropping it kills the process and removes its
/// folder, whether the test passed or not.
pub struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    pub url: String,
    client: reqwest::Client,
}

/// The answer to a query: the samples, or Prometheus's error.
pub type QueryResult = Result<Vec<Value>, String>;

impl PrometheusServer {
    /// Starts Prometheus scraping `target` and evaluating `rule_file`, and
    /// waits (at most 30 s) until it reports ready.
    pub async fn start(binary: &Path, target: &ScrapeTarget<'_>, rule_file: &Path) -> Self {
        let dir =
            std::env::temp_dir().join(format!("bulkhead-prometheus-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // JSON is YAML: no quoting rules to get wrong.
        let labels: serde_json::Map<String, Value> = target
            .labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let config = json!({
            "global": {
                "scrape_interval": target.interval,
                "scrape_timeout": target.interval,
                "evaluation_interval": target.interval,
            },
            "rule_files": [rule_file],
            "scrape_configs": [{
                "job_name": target.job,
                "metrics_path": "/metrics",
                "static_configs": [{
                    "targets": [target.addr.to_string()],
                    "labels": labels,
                }],
            }],
        });
        std::fs::write(dir.join("prometheus.yml"), config.to_string()).unwrap();
        let addr = free_addr().await;
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut server = Self {
            child,
            dir,
            url: format!("http://{addr}"),
            client: http_client(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("Prometheus exited ({status}):\n{}", server.log());
            }
            if let Ok(response) = server
                .client
                .get(format!("{}/-/ready", server.url))
                .send()
                .await
                && response.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready after 30 s:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prometheus's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>`'s `data`, failing the test on an error.
    pub async fn api(&self, path: &str) -> Value {
        let body: Value = self
            .client
            .get(format!("{}/api/v1/{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// Evaluates `expr` now (`GET /api/v1/query`).
    pub async fn query(&self, expr: &str) -> QueryResult {
        let body: Value = self
            .client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        let data = &body["data"];
        match data["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(data["result"].as_array().unwrap().clone()),
            Some("scalar" | "string") => Ok(vec![json!({ "value": data["result"] })]),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    /// The value of a query that yields one number (0 when it is empty).
    pub async fn number(&self, expr: &str) -> f64 {
        let samples = self.query(expr).await.unwrap();
        samples.first().map_or(0.0, sample_value)
    }

    /// Polls until `expr` yields at least `n`, at most `within`.
    pub async fn until_at_least(&self, expr: &str, n: f64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.number(expr).await;
            if value >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{expr}` is {value} after {within:?}, expected at least {n}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The number of one sample of a query result.
pub fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
