//! The handles of the HTTP metrics, resolved once per method, route and
//! status instead of being looked up by their labels on every request.
//!
//! Looking a series up by its labels builds a key, allocates its label
//! strings and hashes them in the recorder's registry, twice per request
//! (the counter and the histogram). A handle is the series itself: once a
//! (method, route, status) has been answered, the next answer updates it
//! directly. The set of series is bounded as the labels are: route
//! templates, a fixed set of methods and the statuses the service answers.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use metrics::{Counter, Gauge, Histogram};

/// The HTTP metrics of one router's requests.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    in_flight: Gauge,
    /// Route template, then the series of each method and status it
    /// answered with (a handful, so a list beats a map).
    by_route: RwLock<HashMap<String, Vec<Series>>>,
}

#[derive(Debug)]
struct Series {
    method: &'static str,
    status: StatusCode,
    requests: Counter,
    duration: Histogram,
}

impl Series {
    fn resolve(method: &'static str, route: &str, status: StatusCode) -> Self {
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_str().to_owned()),
        ];
        Self {
            method,
            status,
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
        }
    }

    fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

impl HttpMetrics {
    /// Handles of the recorder installed now: build the router after the
    /// recorder, or its requests are counted nowhere.
    pub(crate) fn new() -> Self {
        Self {
            in_flight: metrics::gauge!("http_requests_in_flight"),
            by_route: RwLock::default(),
        }
    }

    /// Counts a request in flight until the guard is dropped, even when
    /// the request future is (client gone, deadline, shutdown cut-off).
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.increment(1.0);
        InFlight(&self.in_flight)
    }

    /// Counts one answer and its latency.
    pub(crate) fn record(
        &self,
        method: &'static str,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let matches = |series: &&Series| series.method == method && series.status == status;
        {
            // A poisoned lock only means a panic while holding it; the
            // handles inside are whole.
            let by_route = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = by_route.get(route).and_then(|s| s.iter().find(matches)) {
                series.record(elapsed);
                return;
            }
        }
        let mut by_route = self
            .by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let of_route = by_route.entry(route.to_owned()).or_default();
        // Another request may have added it between the two locks.
        if let Some(series) = of_route.iter().find(matches) {
            series.record(elapsed);
            return;
        }
        let series = Series::resolve(method, route, status);
        series.record(elapsed);
        of_route.push(series);
    }
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn each_answer_lands_in_the_series_of_its_labels() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let http = HttpMetrics::new();
            {
                let _in_flight = http.in_flight();
                http.record("GET", "/a", StatusCode::OK, Duration::from_millis(2));
            }
            http.record("GET", "/a", StatusCode::OK, Duration::from_millis(4));
            http.record("GET", "/a", StatusCode::NOT_FOUND, Duration::from_millis(1));
            http.record("POST", "/a", StatusCode::OK, Duration::from_millis(1));
            http.record("GET", "/b", StatusCode::OK, Duration::from_millis(1));
        });
        let mut requests: Vec<(Vec<String>, u64)> = Vec::new();
        let mut gauge = None;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let labels = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            match (key.key().name(), value) {
                ("http_requests_total", DebugValue::Counter(n)) => requests.push((labels, n)),
                ("http_requests_in_flight", DebugValue::Gauge(g)) => gauge = Some(g.into_inner()),
                _ => {}
            }
        }
        requests.sort();
        let series = |m: &str, r: &str, s: &str, n| {
            (
                vec![
                    format!("method={m}"),
                    format!("route={r}"),
                    format!("status={s}"),
                ],
                n,
            )
        };
        assert_eq!(
            requests,
            [
                series("GET", "/a", "200", 2),
                series("GET", "/a", "404", 1),
                series("GET", "/b", "200", 1),
                series("POST", "/a", "200", 1),
            ]
        );
        assert_eq!(gauge, Some(0.0));
    }
}
