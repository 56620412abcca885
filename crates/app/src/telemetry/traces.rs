//! OpenTelemetry tracing over OTLP/gRPC.
//!
//! Spans are always created, so every log line carries a trace id, and the
//! W3C `traceparent` of a request is honoured. They are exported only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. A dead, slow or black-holed
//! collector never touches a request: spans go to a bounded queue drained
//! by the SDK's own thread, each export has a timeout, and what cannot be
//! queued or exported is dropped and counted in `otel_spans_dropped_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use config::TracingSettings;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, Span, SpanData,
    SpanExporter, SpanProcessor,
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// Spans waiting for export before new ones are dropped.
const MAX_QUEUED_SPANS: usize = 4096;

/// Spans that become OpenTelemetry spans: the service's own, at info and
/// above. The exporter's own stack (tonic, h2, hyper) is excluded, or its
/// spans would be exported in a loop.
pub fn span_filter() -> Targets {
    let excluded = super::OTEL_CRATES.iter().chain(super::TRANSPORT_CRATES);
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets(excluded.map(|c| (*c, LevelFilter::OFF)))
}

/// Counts of spans that were not exported.
#[derive(Debug, Clone, Default)]
pub struct DroppedSpans {
    queue_full: Arc<AtomicU64>,
    export_failed: Arc<AtomicU64>,
}

impl DroppedSpans {
    /// `(reason, count)` pairs for the metric.
    pub fn by_reason(&self) -> [(&'static str, u64); 2] {
        [
            ("queue_full", self.queue_full.load(Ordering::Relaxed)),
            ("export_failed", self.export_failed.load(Ordering::Relaxed)),
        ]
    }
}

/// The tracer provider and its drop counters.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
    dropped: DroppedSpans,
}

impl Traces {
    /// A provider from the settings; exporting only with an endpoint. Also
    /// installs the W3C trace-context propagator.
    ///
    /// # Errors
    /// When the exporter cannot be built from the endpoint.
    pub fn new(settings: &TracingSettings) -> anyhow::Result<Self> {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let dropped = DroppedSpans::default();
        let mut builder = SdkTracerProvider::builder()
            .with_sampler(sampler(settings.sampler))
            .with_resource(resource(settings));
        if let Some(endpoint) = &settings.endpoint {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(settings.export_timeout)
                .build()
                .context("building the OTLP span exporter")?;
            let queued = Arc::new(AtomicUsize::new(0));
            let exporter = CountingExporter {
                inner: exporter,
                queued: Arc::clone(&queued),
                dropped: dropped.clone(),
            };
            let batch = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(MAX_QUEUED_SPANS)
                        .with_scheduled_delay(Duration::from_secs(1))
                        .build(),
                )
                .build();
            builder = builder.with_span_processor(BoundedProcessor {
                inner: batch,
                queued,
                dropped: dropped.clone(),
            });
        }
        let provider = builder.build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Ok(Self { provider, dropped })
    }

    /// The tracer for the `tracing` layer.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer(env!("CARGO_PKG_NAME"))
    }

    /// The drop counters.
    pub fn dropped(&self) -> DroppedSpans {
        self.dropped.clone()
    }

    /// Exports what is queued and stops, within `timeout`. Returns `false`
    /// when that did not finish in time or failed.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        match self.provider.shutdown_with_timeout(timeout) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %format_args!("{:#}", anyhow::Error::from(err)), "span exporter did not shut down cleanly");
                false
            }
        }
    }
}

fn sampler(settings: config::Sampler) -> Sampler {
    let root = if settings.ratio >= 1.0 {
        Sampler::AlwaysOn
    } else if settings.ratio <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::TraceIdRatioBased(settings.ratio)
    };
    if settings.parent_based {
        Sampler::ParentBased(Box::new(root))
    } else {
        root
    }
}

fn resource(settings: &TracingSettings) -> Resource {
    let mut attributes = vec![KeyValue::new("service.version", super::VERSION)];
    attributes.extend(
        settings
            .resource_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attributes)
        .build()
}

/// Admits a span to the batch queue only while fewer than
/// [`MAX_QUEUED_SPANS`] wait, counting the ones it turns away. The batch
/// processor drops on a full queue too, but does not say how many.
#[derive(Debug)]
struct BoundedProcessor {
    inner: BatchSpanProcessor,
    queued: Arc<AtomicUsize>,
    dropped: DroppedSpans,
}

impl SpanProcessor for BoundedProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED_SPANS {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.dropped.queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Releases queue places as batches leave, and counts the spans of failed
/// exports.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    queued: Arc<AtomicUsize>,
    dropped: DroppedSpans,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let count = batch.len();
        let result = self.inner.export(batch).await;
        self.queued.fetch_sub(count, Ordering::AcqRel);
        if result.is_err() {
            self.dropped
                .export_failed
                .fetch_add(count as u64, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
