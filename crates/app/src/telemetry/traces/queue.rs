//! The bounded span queue in front of the exporter, and its drop counts.
//!
//! Whatever the transport, a finished span waits in one queue of at most
//! [`MAX_QUEUED_SPANS`], drained by the SDK's batch thread. A span that
//! finds the queue full is dropped at once (a request never waits for the
//! collector), and so are the spans of a failed export; both are counted by
//! reason for `otel_spans_dropped_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor,
};

/// Spans waiting for export before new ones are dropped.
const MAX_QUEUED_SPANS: usize = 4096;
/// How long a span may wait before its batch is sent.
const EXPORT_DELAY: Duration = Duration::from_secs(1);

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

/// The span processor for `exporter`: the bounded queue, batched exports
/// from the SDK's own thread, drops counted in `dropped`.
pub(super) fn processor<E>(exporter: E, dropped: &DroppedSpans) -> impl SpanProcessor + use<E>
where
    E: SpanExporter + 'static,
{
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
                .with_scheduled_delay(EXPORT_DELAY)
                .build(),
        )
        .build();
    BoundedProcessor {
        inner: batch,
        queued,
        dropped: dropped.clone(),
    }
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
