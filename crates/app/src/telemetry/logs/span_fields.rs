//! The span fields a log line shows, without the span bookkeeping.
//!
//! Spans carry two kinds of fields: facts about the work (`request_id`,
//! `http.route`, `http.response.status_code`, ...) that every log line of
//! the work should show, and instructions to the OpenTelemetry layer
//! (`otel.name`, `otel.kind`, `otel.status_code`) that mean nothing in a
//! log. [`SpanFieldsLayer`] keeps the first kind, in the order they were
//! declared, in each span's extensions; [`write_scope`] writes those of
//! every span around an event onto the event's JSON line, each key once.
//!
//! The layer hands only events to the JSON formatter it wraps. That
//! formatter would otherwise keep a JSON copy of every span's fields too,
//! serialized again on each `Span::record`, for span lists this service
//! never prints: the largest single cost of a logged request.

use std::fmt;

use json_subscriber::FieldWriter;
use serde::Serialize;
use serde_json::value::RawValue;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Field-name prefix of the OpenTelemetry layer's instructions.
const BOOKKEEPING_PREFIX: &str = "otel.";

/// The loggable fields of one span, in declaration order, each value
/// already JSON: a span's fields are recorded once or twice but written on
/// every line of its work.
#[derive(Debug, Default)]
struct SpanFields(Vec<(&'static str, Box<RawValue>)>);

impl SpanFields {
    fn set(&mut self, name: &'static str, value: impl Serialize) {
        if name.starts_with(BOOKKEEPING_PREFIX) {
            return;
        }
        // Serializing a string, number or bool does not fail (a float
        // that is not a number becomes `null`); were it to, the field
        // would be left out rather than the line.
        let Ok(value) = serde_json::value::to_raw_value(&value) else {
            return;
        };
        match self.0.iter_mut().find(|(key, _)| *key == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }
}

/// Records each span's loggable fields as the span is created and as
/// fields are recorded later, and passes events (never spans) on to
/// `events`, the layer that formats them.
#[derive(Debug)]
pub(super) struct SpanFieldsLayer<L> {
    events: L,
}

impl<L> SpanFieldsLayer<L> {
    /// Keeps span fields for `events`, which formats the lines.
    pub(super) const fn new(events: L) -> Self {
        Self { events }
    }
}

impl<S, L> tracing_subscriber::Layer<S> for SpanFieldsLayer<L>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    L: tracing_subscriber::Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.events.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.events.on_layer(subscriber);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.events.on_event(event, ctx);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(fields);
        }
    }
}

/// Writes the loggable fields of the spans around `event` (the event's
/// explicit parent, or the current span, and their ancestors). A key is
/// written once: the event's own field wins, then the innermost span's.
pub(super) fn write_scope<S>(event: &Event<'_>, ctx: &Context<'_, S>, writer: &mut FieldWriter<'_>)
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    let Some(scope) = ctx.event_scope(event) else {
        return;
    };
    let event_fields = event.metadata().fields();
    let mut written: Vec<&'static str> = Vec::new();
    for span in scope {
        let extensions = span.extensions();
        let Some(fields) = extensions.get::<SpanFields>() else {
            continue;
        };
        for (name, value) in &fields.0 {
            if event_fields.field(name).is_some() || written.contains(name) {
                continue;
            }
            written.push(name);
            // A failed write leaves the line without this field; the
            // writer rolls back what it started, so the line stays valid.
            let _ = writer.write_field(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_fields_are_not_kept_and_later_values_replace() {
        let mut fields = SpanFields::default();
        fields.set("otel.name", "GET /x");
        fields.set("http.route", "/x");
        fields.set("otel.kind", "server");
        fields.set("http.response.status_code", 200);
        fields.set("http.route", "/y \"quoted\"");
        fields.set("latency_ms", f64::NAN);
        let written: Vec<(&str, &str)> = fields.0.iter().map(|(k, v)| (*k, v.get())).collect();
        assert_eq!(
            written,
            [
                ("http.route", r#""/y \"quoted\"""#),
                ("http.response.status_code", "200"),
                ("latency_ms", "null"),
            ]
        );
    }
}
