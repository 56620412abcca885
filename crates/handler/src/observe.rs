//! The request span, the access log line and the HTTP metrics of one
//! `Observation`, so all three agree on the route, status and latency;
//! the request's edge (`edge.rs`) starts and finishes it.
//!
//! The span continues the caller's trace when the request carries a W3C
//! `traceparent` and follows the stable HTTP semantic conventions for
//! server spans: kind server, named `METHOD route` (the method alone when
//! no route matched, `HTTP` for a method the conventions do not know), an
//! error status for a 5xx answer. Its fields are the ones every log line
//! of the request shows, each fact once, with the conventions' names:
//! `http.request.method` (`_OTHER` for an unknown method), `http.route`
//! (only when a route matched), `url.path`, `request_id`, `trace_id`,
//! `span_id`. The access line adds `http.response.status_code` and
//! `latency_ms` as its own fields rather than recording them into the
//! span: each `Span::record` costs every layer a visit, and no line of the
//! request follows that one. Attributes only a trace needs (`url.scheme`,
//! `http.request.method_original`, `error.type`, and the status code
//! again) are set on the OpenTelemetry span alone, and the `otel.*` fields
//! instruct the OpenTelemetry layer: neither reaches a log line.

mod series;

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use tracing::Span;
use tracing::field::{Empty, display};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub(crate) use self::series::HttpMetrics;

/// The `route` label of requests that matched no route, so that a scanner
/// trying a thousand paths creates one series, not a thousand.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The target of the request span, for filters that want it alone.
pub const SPAN_TARGET: &str = module_path!();

/// Routes whose access log lines are at debug level: probes and scrapes
/// would otherwise drown the log.
const QUIET_ROUTES: &[&str] = &["/healthz", "/startupz", "/readyz", "/metrics"];

/// Describes the metrics this module writes, and registers at zero those
/// without per-request labels.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, matched route template and status."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from receiving a request to its response headers, by method, route and status."
    );
    metrics::describe_gauge!("http_requests_in_flight", "HTTP requests being served now.");
    metrics::describe_counter!(
        "http_panics_total",
        "Handler panics caught and answered with 500."
    );
    metrics::describe_counter!(
        "http_requests_shed_total",
        "Requests refused with 503 because MAX_CONCURRENT_REQUESTS were in flight."
    );
    // A counter that first appears with its first event hides that event
    // from rate() and increase(): the first panic would never alert.
    metrics::counter!("http_panics_total").increment(0);
    metrics::counter!("http_requests_shed_total").increment(0);
    metrics::gauge!("http_requests_in_flight").increment(0.0);
}

/// A method label from a fixed set: arbitrary methods would each make a
/// series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The method as the HTTP semantic conventions name it, if they know it.
fn known_method(method: &Method) -> Option<&'static str> {
    match *method {
        Method::GET => Some("GET"),
        Method::HEAD => Some("HEAD"),
        Method::POST => Some("POST"),
        Method::PUT => Some("PUT"),
        Method::DELETE => Some("DELETE"),
        Method::CONNECT => Some("CONNECT"),
        Method::OPTIONS => Some("OPTIONS"),
        Method::TRACE => Some("TRACE"),
        Method::PATCH => Some("PATCH"),
        _ => None,
    }
}

/// `METHOD route`, or the method alone when no route matched; `HTTP`
/// stands for a method the conventions do not know.
fn span_name(method: Option<&str>, route: Option<&str>) -> String {
    let method = method.unwrap_or("HTTP");
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

/// The scheme the client used: what a proxy in front says it received
/// (`X-Forwarded-Proto`), else what the request itself says, else plain
/// `http`, which is what this server's listeners speak.
fn url_scheme(request: &Request) -> &'static str {
    let forwarded = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    match forwarded.or_else(|| request.uri().scheme_str()) {
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

/// What is known of a request while it is served: its labels and when it
/// began. Started before the request goes in, with the request span
/// beside it; finished, with that span, once the response is final.
pub(crate) struct Observation {
    started: Instant,
    method: &'static str,
    route: Option<MatchedPath>,
    quiet: bool,
}

impl Observation {
    /// Starts the clock and opens the request span of the request with
    /// id `request_id`, continuing the caller's trace if it sent one.
    pub(crate) fn start(request: &Request, request_id: &str) -> (Self, Span) {
        let started = Instant::now();
        let known = known_method(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let path = route.as_ref().map(MatchedPath::as_str);
        let quiet = path.is_some_and(|route| QUIET_ROUTES.contains(&route));

        macro_rules! request_span {
            ($level:expr) => {
                tracing::span!(
                    target: SPAN_TARGET,
                    $level,
                    "request",
                    otel.name = span_name(known, path),
                    otel.kind = "server",
                    otel.status_code = Empty,
                    http.request.method = known.unwrap_or("_OTHER"),
                    http.route = path,
                    url.path = request.uri().path(),
                    request_id,
                    trace_id = Empty,
                    span_id = Empty,
                )
            };
        }
        // Probes and scrapes get a debug-level span: at the usual info
        // level they cost no span, no log formatting and no trace, which
        // keeps a probe flood cheap and traces free of noise.
        let span = if quiet {
            request_span!(tracing::Level::DEBUG)
        } else {
            request_span!(tracing::Level::INFO)
        };
        if !span.is_disabled() {
            trace_request(&span, request, known);
        }
        let observation = Self {
            started,
            method: method_label(request.method()),
            route,
            quiet,
        };
        (observation, span)
    }

    /// Records the answer: the span's status, the HTTP metrics and the
    /// access line.
    pub(crate) fn finish(self, span: &Span, metrics: &HttpMetrics, status: StatusCode) {
        let elapsed = self.started.elapsed();
        // Milliseconds to the microsecond: `2.392`, not
        // `2.3920529999999998`.
        let latency_ms = f64::from(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)) / 1000.0;
        // An `i64`: the OpenTelemetry layer turns other integers into
        // strings, and the conventions want a number.
        let status_code = i64::from(status.as_u16());
        if !span.is_disabled() {
            span.set_attribute("http.response.status_code", status_code);
            if status.is_server_error() {
                span.record("otel.status_code", "ERROR");
                span.set_attribute("error.type", status.as_str().to_owned());
            }
        }
        let route = self
            .route
            .as_ref()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        metrics.record(self.method, route, status, elapsed);

        macro_rules! access_line {
            ($level:expr) => {
                tracing::event!(
                    parent: span,
                    $level,
                    http.response.status_code = status_code,
                    latency_ms,
                    "request finished"
                )
            };
        }
        if self.quiet {
            access_line!(tracing::Level::DEBUG);
        } else {
            access_line!(tracing::Level::INFO);
        }
    }
}

/// Joins the caller's trace, sets the attributes only a trace needs, and
/// records the ids every log line of the request shows.
fn trace_request(span: &Span, request: &Request, known: Option<&'static str>) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Without an OpenTelemetry layer installed these do nothing.
    let _ = span.set_parent(parent);
    span.set_attribute("url.scheme", url_scheme(request));
    if known.is_none() {
        span.set_attribute(
            "http.request.method_original",
            request.method().as_str().to_owned(),
        );
    }
    let context = span.context();
    let trace = context.span();
    let span_context = trace.span_context();
    if span_context.is_valid() {
        span.record("trace_id", display(span_context.trace_id()));
        span.record("span_id", display(span_context.span_id()));
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    #[test]
    fn methods_outside_the_conventions_are_other_and_name_spans_http() {
        assert_eq!(known_method(&Method::TRACE), Some("TRACE"));
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(known_method(&purge), None);
        // Methods are case-sensitive: `get` is not `GET`.
        assert_eq!(known_method(&Method::from_bytes(b"get").unwrap()), None);
        assert_eq!(span_name(None, Some("/orders")), "HTTP /orders");
        assert_eq!(
            span_name(Some("GET"), Some("/orders/{id}")),
            "GET /orders/{id}"
        );
        assert_eq!(span_name(Some("GET"), None), "GET");
        assert_eq!(span_name(None, None), "HTTP");
    }

    #[test]
    fn the_scheme_is_the_one_a_proxy_saw_or_plain_http() {
        let request = |proto: Option<&str>| {
            let mut builder = Request::builder().uri("/orders");
            if let Some(proto) = proto {
                builder = builder.header("x-forwarded-proto", proto);
            }
            builder.body(Body::empty()).unwrap()
        };
        assert_eq!(url_scheme(&request(None)), "http");
        assert_eq!(url_scheme(&request(Some("https"))), "https");
        assert_eq!(url_scheme(&request(Some("HTTPS, http"))), "https");
        assert_eq!(url_scheme(&request(Some("gopher"))), "http");
        let absolute = Request::builder()
            .uri("https://api.example.com/orders")
            .body(Body::empty())
            .unwrap();
        assert_eq!(url_scheme(&absolute), "https");
    }
}
