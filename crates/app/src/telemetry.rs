//! Logs, metrics and traces: set up once at start, flushed at the end.
//!
//! - [`logs`]: JSON (or pretty) lines on stdout through a bounded,
//!   non-blocking writer, with a filter that can be changed at runtime.
//! - [`metrics`]: the Prometheus recorder and what `/metrics` renders.
//! - [`traces`]: OpenTelemetry over OTLP/HTTP or OTLP/gRPC, from the
//!   `OTEL_*` settings.

pub mod logs;
pub mod metrics;
pub mod traces;

use std::sync::Arc;
use std::time::Duration;

use config::Settings;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// OpenTelemetry's own crates: their errors flood stdout while a collector
/// is down, and their spans must never be exported.
const OTEL_CRATES: &[&str] = &["opentelemetry", "opentelemetry_sdk", "opentelemetry_otlp"];
/// The transport stacks under the OTLP exporters: a log line per frame at
/// debug, and a feedback loop if their spans were exported.
const TRANSPORT_CRATES: &[&str] = &["tonic", "h2", "hyper", "hyper_util", "tower", "reqwest"];

/// The version this binary reports.
pub const VERSION: &str = env!("APP_VERSION");
/// The git commit it was built from.
pub const GIT_SHA: &str = env!("GIT_SHA");

/// Everything telemetry needs to keep alive until the end, and to flush.
#[derive(Debug)]
pub struct Telemetry {
    /// The runtime log filter, for `/debug/log-level`.
    pub log_level: Arc<logs::ReloadLogLevel>,
    /// Renders `/metrics`.
    pub metrics: metrics::Metrics,
    logs: logs::LogWriter,
    traces: traces::Traces,
}

impl Telemetry {
    /// Installs the global log subscriber, metrics recorder and tracer.
    /// Must run inside the tokio runtime (the gRPC exporter needs it).
    ///
    /// # Errors
    /// An invalid `LOG_LEVEL`, an unusable OTLP endpoint or header, or a
    /// subscriber already installed in this process.
    pub fn init(settings: &Settings) -> anyhow::Result<Self> {
        let metrics = metrics::Metrics::install()?;
        let traces = traces::Traces::new(&settings.tracing)?;
        let (writer, log_layer, log_level) = logs::layer(
            settings.log_format,
            &settings.log_level,
            settings.log_buffer_lines,
        )?;
        tracing_subscriber::registry()
            .with(log_layer)
            .with(traces.layer())
            .try_init()
            .map_err(|err| anyhow::anyhow!("installing the log subscriber: {err}"))?;
        let telemetry = Self {
            log_level,
            metrics: metrics.with_sources(writer.dropped_lines(), traces.dropped()),
            logs: writer,
            traces,
        };
        ::metrics::gauge!("build_info", "version" => VERSION, "git_sha" => GIT_SHA).set(1.0);
        Ok(telemetry)
    }

    /// Flushes and stops the span exporter within `timeout`. Returns
    /// `false` when spans were left unexported.
    ///
    /// Called from async code, this blocks its thread until the exporter
    /// is done; the gRPC exporter's connection runs on the tokio runtime,
    /// so on a multi-threaded runtime the worker first hands its other
    /// tasks on instead of holding them up.
    pub fn flush(&self, timeout: Duration) -> bool {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            tokio::task::block_in_place(|| self.traces.shutdown(timeout))
        } else {
            self.traces.shutdown(timeout)
        }
    }

    /// Lines dropped so far because stdout could not keep up.
    pub fn log_lines_dropped(&self) -> usize {
        self.logs.dropped_lines().get()
    }
}
