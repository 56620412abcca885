//! Embeds the version and git commit the binary reports in `--version`,
//! the `build_info` metric and the start-up log line.
//!
//! `APP_VERSION` and `GIT_SHA` come from the container build's arguments;
//! a local build falls back to the crate version and `git rev-parse`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=APP_VERSION");
    println!("cargo:rerun-if-env-changed=GIT_SHA");
    let version = std::env::var("APP_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    let sha = std::env::var("GIT_SHA")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=APP_VERSION={version}");
    println!("cargo:rustc-env=GIT_SHA={sha}");
}
