//! The Prometheus recorder and what `/metrics` renders.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::logs::DroppedLines;
use super::traces::DroppedSpans;

/// The process-wide recorder. The `metrics` facade has exactly one global
/// recorder per process and installing a second one fails, so it is
/// installed once and every application in the process (several in a test
/// binary) renders from the same handle.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The buckets (upper bounds, seconds) of every histogram the workspace
/// records. The exporter renders a histogram without buckets as a summary,
/// which has no `_bucket` series for `histogram_quantile` and cannot be
/// summed across pods; so every `histogram!` needs an entry here (a test
/// below fails on one that has none).
///
/// Each set spans what the operation normally takes up to its timeout,
/// with a bound at the default timeout and one just above: what the
/// timeout ended lands above it and is counted apart from what was merely
/// slow. Steps of about 2.5x keep each to 14 or 15 bounds.
pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    // A request: about a millisecond from the cache, a few with
    // PostgreSQL, up to REQUEST_TIMEOUT (10 s), when it is answered 504.
    // 1 s is the latency alert's threshold.
    (
        "http_request_duration_seconds",
        &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
        ],
    ),
    // Waiting for a pooled connection: tens of microseconds when one is
    // idle, a connect (milliseconds) when the pool grows, up to
    // DATABASE_ACQUIRE_TIMEOUT (2 s), when the request gets 503. 0.5 s is
    // the slow-acquire alert's threshold.
    (
        "db_pool_acquire_duration_seconds",
        &[
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.0, 2.5,
        ],
    ),
    // Handling one outbox event: claiming it and recording the outcome
    // take milliseconds; the delivery attempt is cut at
    // WEBHOOK_TIMEOUT (5 s), so a timed-out attempt ends in (5, 7.5].
    (
        "worker_task_duration_seconds",
        &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
        ],
    ),
];

/// Renders `/metrics`, refreshing the gauges that are sampled rather than
/// updated as things happen.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    dropped_lines: Option<DroppedLines>,
    dropped_spans: Option<DroppedSpans>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Installs the recorder (once per process), describes every metric and
    /// registers at zero the series known in advance.
    ///
    /// # Errors
    /// When another recorder was installed by someone else.
    pub fn install() -> anyhow::Result<Self> {
        if let Some(handle) = HANDLE.get() {
            return Ok(Self::from_handle(handle.clone()));
        }
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in HISTOGRAM_BUCKETS {
            builder = builder.set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)?;
        }
        let handle = builder.install_recorder()?;
        let handle = HANDLE.get_or_init(|| handle).clone();
        describe();
        Ok(Self::from_handle(handle))
    }

    const fn from_handle(handle: PrometheusHandle) -> Self {
        Self {
            handle,
            dropped_lines: None,
            dropped_spans: None,
        }
    }

    /// Adds the drop counters sampled at each render.
    pub(crate) fn with_sources(mut self, lines: DroppedLines, spans: DroppedSpans) -> Self {
        self.dropped_lines = Some(lines);
        self.dropped_spans = Some(spans);
        self
    }

    /// A renderer for the admin listener that first samples `sample`
    /// (pool gauges) and the drop counters.
    pub fn renderer(
        &self,
        sample: impl Fn() + Send + Sync + 'static,
    ) -> handler::admin::RenderMetrics {
        let this = self.clone();
        Arc::new(move || {
            sample();
            this.sample();
            this.handle.run_upkeep();
            this.handle.render()
        })
    }

    fn sample(&self) {
        if let Some(lines) = &self.dropped_lines {
            ::metrics::counter!("log_lines_dropped_total").absolute(lines.get() as u64);
        }
        if let Some(spans) = &self.dropped_spans {
            for (reason, count) in spans.by_reason() {
                ::metrics::counter!("otel_spans_dropped_total", "reason" => reason).absolute(count);
            }
        }
    }

    /// Runs the recorder's periodic upkeep (drains histogram buffers).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Describes every metric; each crate also registers at zero the series it
/// can name in advance (see their `describe_metrics`).
fn describe() {
    handler::describe_metrics();
    service::cache::describe_metrics();
    service::health::describe_metrics();
    service::idempotency::describe_metrics();
    service::users::describe_metrics();
    service::outbox::describe_metrics();
    repository::database::describe_metrics();
    ::metrics::describe_gauge!(
        "build_info",
        "Always 1; the labels say which version and git commit is running."
    );
    ::metrics::describe_counter!(
        "log_lines_dropped_total",
        "Log lines dropped because stdout could not keep up; requests never wait for logs."
    );
    ::metrics::describe_counter!(
        "otel_spans_dropped_total",
        "Spans not exported: queue_full (the exporter fell behind) or export_failed (collector down or slow)."
    );
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::HISTOGRAM_BUCKETS;

    /// The Rust sources of every crate of the workspace.
    fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// The metric names of the histogram macro calls in `source`, outside
    /// comments: the string literal opening each call's arguments.
    fn histogram_names(source: &str) -> Vec<String> {
        let code: String = source
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        code.split("histogram!(")
            .skip(1)
            .filter_map(|rest| {
                let name = rest.trim_start().strip_prefix('"')?;
                let name = &name[..name.find('"')?];
                let valid = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                valid.then(|| name.to_owned())
            })
            .collect()
    }

    #[test]
    fn every_histogram_in_the_workspace_has_buckets() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for krate in std::fs::read_dir(&crates).unwrap() {
            let src = krate.unwrap().path().join("src");
            if src.is_dir() {
                sources(&src, &mut files);
            }
        }
        let mut recorded: Vec<(String, PathBuf)> = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for name in histogram_names(&source) {
                recorded.push((name, file.clone()));
            }
        }
        // The scan itself works: the request histogram is recorded in
        // the handler crate.
        assert!(
            recorded
                .iter()
                .any(|(name, _)| name == "http_request_duration_seconds"),
            "no histogram found in {}: {recorded:?}",
            crates.display()
        );
        let missing: Vec<_> = recorded
            .iter()
            .filter(|(name, _)| !HISTOGRAM_BUCKETS.iter().any(|(n, _)| n == name))
            .collect();
        assert!(
            missing.is_empty(),
            "histograms without buckets in HISTOGRAM_BUCKETS (they would render as summaries): {missing:?}"
        );
    }

    /// A bound at each operation's timeout (the default), and one above
    /// it: what ended by the timeout is then told apart from what was
    /// merely slow (`_count` minus the `le` at the timeout).
    #[test]
    fn buckets_increase_and_bracket_the_default_timeouts() {
        let settings = config::Settings::from_vars([("DATABASE_URL", "postgres://db/x")]).unwrap();
        let timeouts = [
            (
                "http_request_duration_seconds",
                settings.http.request_timeout,
            ),
            (
                "db_pool_acquire_duration_seconds",
                settings.database.acquire_timeout,
            ),
            ("worker_task_duration_seconds", settings.webhook.timeout),
        ];
        for (name, buckets) in HISTOGRAM_BUCKETS {
            assert!(
                buckets.windows(2).all(|w| w[0] < w[1]),
                "{name}: buckets must increase: {buckets:?}"
            );
        }
        for (name, timeout) in timeouts {
            let (_, buckets) = HISTOGRAM_BUCKETS
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} has no buckets"));
            let timeout = timeout.as_secs_f64();
            assert!(
                buckets.contains(&timeout) && buckets.last().is_some_and(|&top| top > timeout),
                "{name}: buckets {buckets:?} need a bound at the timeout {timeout}s and one above"
            );
        }
    }
}
