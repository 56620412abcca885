//! A scenario's report: its promises, each checked and kept with what was
//! measured, and the Markdown written to `target/faults/`.
//!
//! Each scenario writes its own section file, then rebuilds `report.md`
//! from every section present, in scenario order; `make faults` empties
//! the folder first, so the report holds one run.

use std::fmt::Write as _;

use testkit::Table;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::out_dir;

/// One promise, checked.
#[derive(Debug, Clone)]
struct Check {
    promise: String,
    ok: bool,
    measured: String,
}

/// A scenario's report, filled as it runs.
#[derive(Debug)]
pub struct Report {
    order: u8,
    slug: &'static str,
    title: &'static str,
    text: String,
    checks: Vec<Check>,
}

impl Report {
    /// `order` places the section in `report.md`; `slug` names its file.
    pub fn new(order: u8, slug: &'static str, title: &'static str) -> Self {
        println!("\n== {title}");
        Self {
            order,
            slug,
            title,
            text: String::new(),
            checks: Vec::new(),
        }
    }

    /// A paragraph of context (settings, load).
    pub fn note(&mut self, text: &str) {
        println!("{text}");
        let _ = writeln!(self.text, "{text}\n");
    }

    /// A table.
    pub fn table(&mut self, table: &Table) {
        let rendered = table.render();
        println!("{rendered}");
        let _ = writeln!(self.text, "{rendered}");
    }

    /// Records whether `promise` held, with what was measured.
    pub fn check(&mut self, promise: impl Into<String>, ok: bool, measured: impl Into<String>) {
        let check = Check {
            promise: promise.into(),
            ok,
            measured: measured.into(),
        };
        println!(
            "{} {}: {}",
            if ok { "PASS" } else { "FAIL" },
            check.promise,
            check.measured
        );
        self.checks.push(check);
    }

    /// Writes the section and the report, then fails the test when a
    /// promise did not hold.
    pub fn finish(self) {
        let mut section = format!("## {}\n\n{}", self.title, self.text);
        let mut table = Table::new(&["Promise", "Result", "Measured"]);
        for check in &self.checks {
            table.row(vec![
                check.promise.clone(),
                if check.ok { "pass" } else { "**FAIL**" }.to_owned(),
                check.measured.clone(),
            ]);
        }
        section.push_str(&table.render());
        let dir = out_dir().join("sections");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{}-{}.md", self.order, self.slug)),
            section,
        )
        .unwrap();
        write_report();

        let failed: Vec<_> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.promise, c.measured))
            .collect();
        assert!(
            failed.is_empty(),
            "{} promise(s) of `{}` failed:\n{}",
            failed.len(),
            self.title,
            failed.join("\n")
        );
    }
}

/// Rebuilds `report.md` from the section files present.
fn write_report() {
    let dir = out_dir();
    let mut sections: Vec<_> = std::fs::read_dir(dir.join("sections"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    sections.sort();
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    // Other work on the machine moves latency and throughput: say how
    // busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .map_or_else(String::new, |l| format!(", load average {l} at the end"));
    let mut report = format!(
        "# Fault suite\n\n`make faults`, {now}, {cores} cores{load}. The release binary \
         under load while its dependencies fail; one row per phase, then the promises \
         checked.\n\n"
    );
    for path in sections {
        report.push_str(&std::fs::read_to_string(path).unwrap());
        report.push('\n');
    }
    std::fs::write(dir.join("report.md"), report).unwrap();
}
