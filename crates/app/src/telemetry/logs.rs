//! Log lines on stdout that never block a request.
//!
//! Lines go through a bounded queue to a writer thread. When stdout cannot
//! keep up (a slow collector, a full pipe), new lines are dropped rather than
//! making requests wait, and the drops are counted in
//! `log_lines_dropped_total`. The filter (`LOG_LEVEL`) can be replaced at
//! runtime through `/debug/log-level`.

mod span_fields;

use std::sync::{Arc, Mutex};

use config::LogFormat;
use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::filter::{FilterExt as _, Targets};
use tracing_subscriber::fmt::format::debug_fn;
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use self::span_fields::SpanFieldsLayer;

/// The log layer as installed on the registry.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The writer thread; lines still queued are flushed when this is dropped,
/// so `main` keeps it until the very end.
#[derive(Debug)]
pub struct LogWriter {
    _guard: WorkerGuard,
    dropped: DroppedLines,
}

impl LogWriter {
    /// The counter of dropped lines.
    pub fn dropped_lines(&self) -> DroppedLines {
        self.dropped.clone()
    }
}

/// How many lines were dropped because the queue was full.
#[derive(Clone)]
pub struct DroppedLines(ErrorCounter);

impl std::fmt::Debug for DroppedLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DroppedLines").field(&self.get()).finish()
    }
}

impl DroppedLines {
    /// The count so far.
    pub fn get(&self) -> usize {
        self.0.dropped_lines()
    }
}

/// Crates whose chatter is capped whatever `LOG_LEVEL` says: the span
/// exporter's own errors would otherwise flood stdout while a collector is
/// down, and the HTTP/2 stack under it logs every frame at debug.
fn noisy_targets() -> Targets {
    let otel = super::OTEL_CRATES.iter().map(|c| (*c, LevelFilter::WARN));
    let transport = super::TRANSPORT_CRATES
        .iter()
        .map(|c| (*c, LevelFilter::INFO));
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(otel.chain(transport))
}

/// Builds the log layer over a non-blocking stdout writer.
///
/// # Errors
/// When `level` is not a valid filter directive.
pub fn layer(
    format: LogFormat,
    level: &str,
    buffered_lines: usize,
) -> anyhow::Result<(LogWriter, BoxedLayer, Arc<ReloadLogLevel>)> {
    let filter = parse(level).map_err(|err| anyhow::anyhow!("LOG_LEVEL `{level}`: {err}"))?;
    let (filter, handle) = reload::Layer::new(filter);
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(buffered_lines)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let dropped = DroppedLines(writer.error_counter());
    let filter = filter.and(noisy_targets());
    let layer: BoxedLayer = match format {
        LogFormat::Json => {
            // The event's fields, then the loggable fields of its spans,
            // each key once; span bookkeeping (`otel.*`) is left out.
            let mut json = json_subscriber::JsonLayer::new(writer);
            json.with_timer("timestamp", SystemTime)
                .with_level("level")
                .with_target("target")
                .with_flattened_event();
            json.add_multiple_dynamic_fields(span_fields::write_scope::<Registry>);
            SpanFieldsLayer::new(json).with_filter(filter).boxed()
        }
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .fmt_fields(
                debug_fn(|writer, field, value| {
                    if field.name().starts_with("otel.") {
                        Ok(())
                    } else if field.name() == "message" {
                        write!(writer, "{value:?}")
                    } else {
                        write!(writer, "{field}={value:?}")
                    }
                })
                .delimited(" "),
            )
            .with_filter(filter)
            .boxed(),
    };
    let log_level = Arc::new(ReloadLogLevel {
        handle,
        current: Mutex::new(level.to_owned()),
    });
    Ok((
        LogWriter {
            _guard: guard,
            dropped,
        },
        layer,
        log_level,
    ))
}

fn parse(directive: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(directive)
        .map_err(|err| err.to_string())
}

/// The runtime log filter behind `/debug/log-level`.
pub struct ReloadLogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    current: Mutex<String>,
}

impl std::fmt::Debug for ReloadLogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadLogLevel")
            .field("current", &handler::admin::LogLevel::current(self))
            .finish()
    }
}

impl handler::admin::LogLevel for ReloadLogLevel {
    fn current(&self) -> String {
        // A poisoned lock only means a panic while holding it; the string
        // inside is still whole.
        self.current
            .lock()
            .map_or_else(|poisoned| poisoned.into_inner().clone(), |s| s.clone())
    }

    fn set(&self, directive: &str) -> Result<(), String> {
        let filter = parse(directive)?;
        self.handle
            .reload(filter)
            .map_err(|err| format!("could not apply the filter: {err}"))?;
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        directive.clone_into(&mut current);
        Ok(())
    }
}
