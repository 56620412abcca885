//! OpenTelemetry tracing, set up from the specification's `OTEL_*`
//! variables.
//!
//! Spans are always created, so every log line of a request carries a
//! trace id, and the W3C `traceparent` of a request is honoured. They are
//! exported when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, over OTLP/HTTP or
//! OTLP/gRPC ([`export`]). A dead, slow or black-holed collector never
//! touches a request: spans go to a bounded queue drained by the SDK's own
//! thread ([`queue`]), each export has a timeout, and what cannot be queued
//! or exported is dropped and counted in `otel_spans_dropped_total`.
//!
//! With `OTEL_SDK_DISABLED=true` nothing is exported or recorded: only the
//! request span reaches OpenTelemetry, unsampled, for the ids of its log
//! lines (still the caller's trace id when it sent one).
//!
//! - [`export`]: the exporter for the protocol, endpoint and headers;
//! - [`http`]: the HTTP client of OTLP/HTTP;
//! - [`queue`]: the bounded queue and the drop counts.

mod export;
mod http;
mod queue;

use std::time::Duration;

use config::TracingSettings;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

pub use self::queue::DroppedSpans;

/// The crate whose spans stand for database and cache calls.
const DATA_LAYER: &str = "repository";

/// The tracer provider and its drop counters.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
    dropped: DroppedSpans,
    disabled: bool,
    exporting: bool,
}

impl Traces {
    /// A provider from the settings; exporting only with an endpoint. Also
    /// installs the W3C trace-context propagator.
    ///
    /// # Errors
    /// When the exporter cannot be built from the settings.
    pub fn new(settings: &TracingSettings) -> anyhow::Result<Self> {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let dropped = DroppedSpans::default();
        let builder = SdkTracerProvider::builder().with_resource(resource(settings));
        let exporter = if settings.sdk_disabled {
            None
        } else {
            export::exporter(settings)?
        };
        let exporting = exporter.is_some();
        let builder = if settings.sdk_disabled {
            // Spans that are never recorded still get ids.
            builder.with_sampler(Sampler::AlwaysOff)
        } else {
            builder.with_sampler(sampler(settings.sampler))
        };
        let builder = match exporter {
            Some(exporter) => builder.with_span_processor(queue::processor(exporter, &dropped)),
            None => builder,
        };
        let provider = builder.build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Ok(Self {
            provider,
            dropped,
            disabled: settings.sdk_disabled,
            exporting,
        })
    }

    /// The `tracing` layer that makes OpenTelemetry spans, for the
    /// registry `S`.
    ///
    /// Spans carry the attributes the code gives them and no more: not the
    /// source location, thread or busy and idle times of each span, which
    /// describe the instrumentation rather than the request and cost every
    /// span allocations and a clock read at each poll. Nothing here reads
    /// the OpenTelemetry context as the current one, so entering a span
    /// does not make it so.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(env!("CARGO_PKG_NAME")))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(self.span_filter())
    }

    /// Spans that become OpenTelemetry spans: the service's own, at info
    /// and above. The exporter's own stack (tonic, hyper, reqwest) is
    /// excluded, or its spans would be exported in a loop. With no
    /// exporter, not the data layer's either: their context never leaves
    /// the process, so nothing would read them, while the request's,
    /// the worker's and the outbound calls' still give log lines their ids
    /// and outbound requests their `traceparent`. With the SDK disabled,
    /// only the request span, whose ids the log lines show.
    fn span_filter(&self) -> Targets {
        if self.disabled {
            return Targets::new().with_target(handler::observe::SPAN_TARGET, LevelFilter::INFO);
        }
        let mut excluded: Vec<&str> = super::OTEL_CRATES.to_vec();
        excluded.extend(super::TRANSPORT_CRATES);
        if !self.exporting {
            excluded.push(DATA_LAYER);
        }
        Targets::new()
            .with_default(LevelFilter::INFO)
            .with_targets(excluded.into_iter().map(|c| (c, LevelFilter::OFF)))
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
