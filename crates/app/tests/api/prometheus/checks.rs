//! The checks of the dashboard's queries and the alert rules against a
//! Prometheus that has scraped the service; each problem is collected, so
//! one run reports them all.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::promql;
use super::server::{PrometheusServer, sample_value};
use super::{JOB, NAMESPACE, POD};

/// Metrics the dashboard and alerts read from other exporters
/// (kube-state-metrics), which this test does not run: queries over them
/// may be empty.
pub const OTHER_EXPORTERS: &[&str] = &[
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason",
];

/// Series Prometheus writes itself for every target it scrapes.
pub const SCRAPE_SERIES: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Grafana's variables and the values a query is checked with. The rate
/// window covers the whole test; `$namespace` is the target's own, so a
/// query whose series lack the label comes out empty.
pub const VARIABLES: &[(&str, &str)] = &[
    ("$__rate_interval", "5m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("$namespace", NAMESPACE),
    ("$pod", POD),
    ("$job", JOB),
];

/// Every series name in a `/metrics` text, with a histogram's `_bucket`,
/// `_sum` and `_count`.
fn exported_names(text: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            names.insert(name.to_owned());
            let suffixes: &[&str] = match kind {
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["_sum", "_count"],
                _ => &[],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Collects what is wrong instead of stopping at the first problem.
pub struct Checker<'a> {
    prometheus: &'a PrometheusServer,
    exported: HashSet<String>,
    quiet: HashSet<String>,
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    /// Checks against `prometheus`; `metrics` is the service's own
    /// `/metrics` text, which says what the service exports.
    pub fn new(prometheus: &'a PrometheusServer, metrics: &str) -> Self {
        Self {
            prometheus,
            exported: exported_names(metrics),
            quiet: HashSet::new(),
            problems: Vec::new(),
        }
    }

    /// Metrics the service exports (so their names and labels are still
    /// checked) but that only a resource's traffic moves: a query over
    /// them need not show data when the test's traffic has no resource.
    pub fn quiet(mut self, metrics: &[&str]) -> Self {
        self.quiet = metrics.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    /// What was found wrong.
    pub fn problems(self) -> Vec<String> {
        self.problems
    }

    /// Every query and variable of a Grafana dashboard.
    pub async fn dashboard(&mut self, dashboard: &Value) {
        let mut queries = Vec::new();
        collect_queries(dashboard, "", &mut queries);
        assert!(queries.len() > 10, "too few dashboard queries: {queries:?}");
        for (panel, raw) in queries {
            let expr = match substitute(&raw) {
                Ok(expr) => expr,
                Err(unknown) => {
                    self.problems.push(format!(
                        "panel {panel:?}: variable {unknown} unknown to the test in `{raw}`"
                    ));
                    continue;
                }
            };
            let origin = format!("panel {panel:?} `{expr}`");
            let present = self.selectors(&origin, &expr).await;
            match self.prometheus.query(&expr).await {
                Err(error) => self.problems.push(format!("{origin}: {error}")),
                Ok(samples) if present && !samples.iter().any(|s| !sample_value(s).is_nan()) => {
                    self.problems
                        .push(format!("{origin}: no data ({samples:?})"));
                }
                Ok(_) => {}
            }
        }
        for variable in dashboard["templating"]["list"].as_array().unwrap() {
            let Some(query) = variable["definition"].as_str() else {
                continue;
            };
            self.label_values(variable["name"].as_str().unwrap_or_default(), query)
                .await;
        }
    }

    /// A `label_values(selector, label)` variable must list the target's
    /// value of the label.
    async fn label_values(&mut self, name: &str, query: &str) {
        let Some((selector, label)) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
        else {
            self.problems
                .push(format!("variable {name}: cannot read `{query}`"));
            return;
        };
        let label = label.trim();
        let expr = format!("count by ({label}) ({selector})");
        let values: Vec<String> = match self.prometheus.query(&expr).await {
            Ok(samples) => samples
                .iter()
                .filter_map(|s| s["metric"][label].as_str().map(str::to_owned))
                .collect(),
            Err(error) => vec![error],
        };
        let expected = match label {
            "namespace" => NAMESPACE,
            "pod" => POD,
            "job" => JOB,
            _ => "",
        };
        if !values.iter().any(|v| v == expected) {
            self.problems.push(format!(
                "variable {name} `{query}` lists {values:?}, not {expected:?}"
            ));
        }
    }

    /// Every alerting rule of `/api/v1/rules` (`expected` of them), and
    /// the active alerts of `/api/v1/alerts`.
    pub async fn alerts(&mut self, rules: &Value, expected: usize, alerts: &Value) {
        for alert in alerts["alerts"].as_array().unwrap() {
            self.problems.push(format!(
                "alert {} is {} on a healthy service",
                alert["labels"]["alertname"], alert["state"]
            ));
        }
        let mut found = 0;
        for group in rules["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                if rule["type"] != "alerting" {
                    continue;
                }
                found += 1;
                let name = rule["name"].as_str().unwrap();
                let expr = rule["query"].as_str().unwrap();
                let origin = format!("alert {name} `{expr}`");
                if rule["health"] != "ok" {
                    self.problems.push(format!(
                        "{origin}: health {} ({})",
                        rule["health"], rule["lastError"]
                    ));
                }
                if rule["state"] != "inactive" {
                    self.problems
                        .push(format!("{origin}: {} on a healthy service", rule["state"]));
                }
                self.selectors(&origin, expr).await;
                if let Err(error) = self.prometheus.query(expr).await {
                    self.problems.push(format!("{origin}: {error}"));
                }
            }
        }
        if found != expected {
            self.problems.push(format!(
                "Prometheus loaded {found} alerting rules, the file has {expected}"
            ));
        }
    }

    /// Checks the metrics and matchers of `expr`'s selectors; returns
    /// whether it reads only series this test has.
    async fn selectors(&mut self, origin: &str, expr: &str) -> bool {
        let mut present = true;
        for selector in promql::selectors(expr) {
            let metric = selector.metric.as_str();
            if OTHER_EXPORTERS.contains(&metric) {
                present = false;
                continue;
            }
            if !self.exported.contains(metric) && !SCRAPE_SERIES.contains(&metric) {
                self.problems.push(format!(
                    "{origin}: `{metric}` is not in the service's /metrics, nor written by \
                     Prometheus, nor listed in OTHER_EXPORTERS"
                ));
                present = false;
                continue;
            }
            for m in &selector.matchers {
                let probe = if m.op == "=" && !m.value.is_empty() {
                    format!("count({metric}{{{}={}}})", m.label, json!(m.value))
                } else {
                    format!(r#"count({metric}{{{}!=""}})"#, m.label)
                };
                if self.prometheus.number(&probe).await < 1.0 {
                    self.problems.push(format!(
                        "{origin}: nothing matches `{probe}` (from {selector})"
                    ));
                }
            }
            if self.quiet.contains(metric) {
                present = false;
            }
        }
        present
    }
}

/// `expr` with each `$name` and `${name}` replaced by its value in
/// [`VARIABLES`], or the first unknown variable.
fn substitute(expr: &str) -> Result<String, String> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            braced.split_once('}').unwrap_or((braced, ""))
        } else {
            let end = after
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(after.len());
            after.split_at(end)
        };
        let value = VARIABLES
            .iter()
            .find(|(var, _)| var[1..] == *name)
            .ok_or_else(|| format!("${name}"))?;
        out.push_str(value.1);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// Every `expr` in a dashboard, with the title of its panel.
fn collect_queries(value: &Value, panel: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            let panel = map.get("title").and_then(Value::as_str).unwrap_or(panel);
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("expr", Value::String(expr)) => found.push((panel.to_owned(), expr.clone())),
                    _ => collect_queries(child, panel, found),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_queries(item, panel, found);
            }
        }
        _ => {}
    }
}

#[test]
fn grafana_variables_are_replaced_and_unknown_ones_reported() {
    assert_eq!(
        substitute(r#"rate(x{namespace=~"$namespace", pod="${pod}"}[$__rate_interval])"#),
        Ok(format!(
            r#"rate(x{{namespace=~"{NAMESPACE}", pod="{POD}"}}[5m])"#
        ))
    );
    assert_eq!(
        substitute("rate(x[$__rate_intervals])"),
        Err("$__rate_intervals".to_owned())
    );
    assert_eq!(
        substitute("x{a=\"${cluster}\"}"),
        Err("$cluster".to_owned())
    );
}
