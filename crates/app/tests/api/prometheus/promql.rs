//! Just enough PromQL reading to list the series selectors of a query: the
//! metric names it reads and the label matchers on each.
//!
//! Not a parser: it skips strings, range brackets, function calls, and the
//! label lists of `by`, `without`, `on`, `ignoring`, `group_left` and
//! `group_right`; every other name is a metric. That is enough for the
//! queries of a dashboard and of alert rules, and the tests below pin it.

/// One label matcher, such as `status=~"5.."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// A series selector: a metric name and its matchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{", self.metric)?;
        for (i, m) in self.matchers.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}{}{:?}", m.label, m.op, m.value)?;
        }
        write!(f, "}}")
    }
}

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Keywords that are neither metrics nor followed by a label list, and the
/// aggregations, which may be followed by `by (...)` before their `(`.
const OTHER_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// The selectors of `expr`, in order of appearance.
pub fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '[' {
            i = skip_past(&chars, i, ']');
        } else if c == '#' {
            i = skip_past(&chars, i, '\n');
        } else if c.is_ascii_digit() || c == '.' {
            // A number (or a duration such as 5m): its letters are not names.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if is_name_start(c) {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let next = next_non_space(&chars, i);
            let lower = name.to_ascii_lowercase();
            if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                if next.is_some_and(|j| chars[j] == '(') {
                    i = skip_past(&chars, next.unwrap_or(i), ')');
                }
            } else if OTHER_KEYWORDS.contains(&lower.as_str())
                || next.is_some_and(|j| chars[j] == '(')
            {
                // A keyword, or a function or aggregation being called.
            } else if let Some(j) = next.filter(|&j| chars[j] == '{') {
                let (matchers, end) = matchers(&chars, j);
                found.push(Selector {
                    metric: name,
                    matchers,
                });
                i = end;
            } else {
                found.push(Selector {
                    metric: name,
                    matchers: Vec::new(),
                });
            }
        } else if c == '{' {
            // A selector without a metric name: `{__name__="x"}`.
            let (matchers, end) = matchers(&chars, i);
            let metric = matchers
                .iter()
                .find(|m| m.label == "__name__" && m.op == "=")
                .map(|m| m.value.clone())
                .unwrap_or_default();
            found.push(Selector { metric, matchers });
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

const fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

const fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn next_non_space(chars: &[char], from: usize) -> Option<usize> {
    (from..chars.len()).find(|&j| !chars[j].is_whitespace())
}

/// The index after the closing `end` (or the end of the text).
fn skip_past(chars: &[char], from: usize, end: char) -> usize {
    (from + 1..chars.len())
        .find(|&j| chars[j] == end)
        .map_or(chars.len(), |j| j + 1)
}

/// The index after the string literal opening at `from`.
fn skip_string(chars: &[char], from: usize) -> usize {
    string_at(chars, from).1
}

/// The string literal opening at `from` (its quotes removed, escapes
/// resolved naively) and the index after it.
fn string_at(chars: &[char], from: usize) -> (String, usize) {
    let quote = chars[from];
    let mut value = String::new();
    let mut j = from + 1;
    while j < chars.len() && chars[j] != quote {
        if chars[j] == '\\' && quote != '`' && j + 1 < chars.len() {
            j += 1;
        }
        value.push(chars[j]);
        j += 1;
    }
    (value, (j + 1).min(chars.len()))
}

/// The matchers between the `{` at `open` and its `}`, and the index after
/// the `}`.
fn matchers(chars: &[char], open: usize) -> (Vec<Matcher>, usize) {
    let mut found = Vec::new();
    let mut i = open + 1;
    loop {
        let Some(j) = next_non_space(chars, i) else {
            return (found, chars.len());
        };
        i = j;
        match chars[i] {
            '}' => return (found, i + 1),
            ',' => i += 1,
            c if is_name_start(c) => {
                let start = i;
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
                let label: String = chars[start..i].iter().collect();
                let Some(j) = next_non_space(chars, i) else {
                    return (found, chars.len());
                };
                i = j;
                let op_start = i;
                while i < chars.len() && matches!(chars[i], '=' | '!' | '~') {
                    i += 1;
                }
                let op: String = chars[op_start..i].iter().collect();
                let Some(j) = next_non_space(chars, i) else {
                    return (found, chars.len());
                };
                let (value, end) = string_at(chars, j);
                found.push(Matcher { label, op, value });
                i = end;
            }
            _ => i += 1,
        }
    }
}

#[test]
fn reads_the_selectors_of_a_dashboard_query() {
    let found = selectors(
        r#"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{job="bulkhead", namespace=~"$namespace"}[5m])))
        / on (namespace) group_left sum(rate(x_total{status!~"5.."}[1m] offset 5m)) > bool 0.5 and up"#,
    );
    let names: Vec<&str> = found.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(
        names,
        ["http_request_duration_seconds_bucket", "x_total", "up"]
    );
    assert_eq!(
        found[0].matchers,
        [
            Matcher {
                label: "job".to_owned(),
                op: "=".to_owned(),
                value: "bulkhead".to_owned()
            },
            Matcher {
                label: "namespace".to_owned(),
                op: "=~".to_owned(),
                value: "$namespace".to_owned()
            },
        ]
    );
    assert_eq!(found[1].matchers[0].op, "!~");
    assert_eq!(found[1].to_string(), r#"x_total{status!~"5.."}"#);
}

#[test]
fn reads_selectors_without_a_name_and_ignores_strings() {
    let found = selectors(r#"label_replace({__name__="a", b="c,}"}, "dst", "$1", "src", "(.*)")"#);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].metric, "a");
    assert_eq!(found[0].matchers[1].value, "c,}");
}
