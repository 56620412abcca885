//! [`PhaseStats`]: what the samples of one phase of load say, and [`Table`],
//! a Markdown table to print them in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::load::{Failure, Sample};

/// A summary of the samples of one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    /// Requests sent.
    pub requests: usize,
    /// Answers by status.
    pub statuses: BTreeMap<u16, usize>,
    /// Answers with a 5xx status.
    pub server_errors: usize,
    /// `503`s without `Retry-After`.
    pub unavailable_without_retry_after: usize,
    /// Requests whose connection could not be made.
    pub connect_failures: usize,
    /// Requests that hit the client's timeout.
    pub timeouts: usize,
    /// Other requests without an answer (reset or closed mid-way), with
    /// the first few causes.
    pub other_failures: usize,
    /// Distinct causes of `other_failures`, at most five.
    pub failure_causes: Vec<String>,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Slowest request.
    pub slowest: Duration,
    /// How long the phase lasted.
    pub elapsed: Duration,
}

impl PhaseStats {
    /// Summarises `samples`, sent over `elapsed`.
    pub fn new<'a>(samples: impl IntoIterator<Item = &'a Sample>, elapsed: Duration) -> Self {
        let mut stats = Self {
            elapsed,
            ..Self::default()
        };
        let mut latencies = Vec::new();
        for sample in samples {
            stats.requests += 1;
            latencies.push(sample.latency);
            match &sample.result {
                Ok(status) => {
                    *stats.statuses.entry(*status).or_default() += 1;
                    if *status >= 500 {
                        stats.server_errors += 1;
                    }
                    if *status == 503 && !sample.retry_after {
                        stats.unavailable_without_retry_after += 1;
                    }
                }
                Err(Failure::Connect) => stats.connect_failures += 1,
                Err(Failure::Timeout) => stats.timeouts += 1,
                Err(Failure::Other(cause)) => {
                    stats.other_failures += 1;
                    if stats.failure_causes.len() < 5 && !stats.failure_causes.contains(cause) {
                        stats.failure_causes.push(cause.clone());
                    }
                }
            }
        }
        latencies.sort_unstable();
        stats.p50 = percentile(&latencies, 0.50);
        stats.p99 = percentile(&latencies, 0.99);
        stats.slowest = latencies.last().copied().unwrap_or_default();
        stats
    }

    /// Answers with this status.
    pub fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Requests that got no HTTP answer at all.
    pub const fn transport_failures(&self) -> usize {
        self.connect_failures + self.timeouts + self.other_failures
    }

    /// Requests per second over the phase.
    pub fn throughput(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    /// Statuses as `200×950 503×12`, and transport failures after them.
    pub fn statuses_text(&self) -> String {
        let mut text = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        for (name, n) in [
            ("connect-failed", self.connect_failures),
            ("timeout", self.timeouts),
            ("no-answer", self.other_failures),
        ] {
            if n > 0 {
                let _ = write!(text, " {name}×{n}");
            }
        }
        text
    }
}

/// `n` events over `elapsed`, per second.
pub fn per_second(n: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        // Counts in a test stay far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let n = n as f64;
        n / secs
    } else {
        0.0
    }
}

/// The `q` quantile (0..=1) of sorted latencies, nearest rank.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // The rank is within 0..len, which fits any usize.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with one decimal, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// A Markdown table built row by row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are left empty.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table in Markdown, columns padded for reading as plain text.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::from("|");
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let _ = write!(out, " {cell:<width$} |");
            }
            out.push('\n');
            out
        };
        let mut out = line(&self.header);
        out.push('|');
        for width in &widths {
            let _ = write!(out, "{}|", "-".repeat(width + 2));
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn tables_pad_their_columns() {
        let mut table = Table::new(&["a", "bb"]);
        table.row(vec!["xyz".to_owned(), "1".to_owned()]);
        assert_eq!(table.render(), "| a   | bb |\n|-----|----|\n| xyz | 1  |\n");
    }
}
