//! Reading the admin listener's `/metrics`, and checking it with promtool.

use reqwest::StatusCode;

/// The text of an admin listener's `/metrics`.
pub async fn scrape(client: &reqwest::Client, admin_url: &str) -> String {
    let response = client
        .get(format!("{admin_url}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as rendered), if any.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `promtool check metrics` on a scrape (`PROMTOOL` names the binary;
/// `make test` installs it).
pub fn promtool_check_metrics(text: &str) {
    let promtool = std::env::var("PROMTOOL").expect(
        "PROMTOOL must name a promtool binary; `make test` installs one (make tool-promtool)",
    );
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
