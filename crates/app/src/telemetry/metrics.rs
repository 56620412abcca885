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
    /// Installs the recorder (once per process) and describes every metric.
    ///
    /// # Errors
    /// When another recorder was installed by someone else.
    pub fn install() -> anyhow::Result<Self> {
        if let Some(handle) = HANDLE.get() {
            return Ok(Self::from_handle(handle.clone()));
        }
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".to_owned()),
                handler::observe::DURATION_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full("db_pool_acquire_duration_seconds".to_owned()),
                &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0],
            )?
            .install_recorder()?;
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

fn describe() {
    handler::describe_metrics();
    service::health::describe_metrics();
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
